#include "daemon/ctl_args.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/job.hpp"

namespace msgflash::ctl {

namespace {

// One verb: how many positional arguments, which options take a value and which are flags. --json and
// --config are accepted everywhere (a control verb prints its answer as JSON with --json).
struct verb_spec {
    std::string_view name;
    std::size_t min_positional;
    std::size_t max_positional;
    std::array<std::string_view, 4> value_options;
    std::array<std::string_view, 2> flag_options;
};

constexpr std::array<verb_spec, 13> verbs{{
    {"status", 0, 0, {}, {}},
    {"batches", 0, 0, {"--account", "--limit"}, {"--all"}},
    {"jobs", 0, 0, {"--batch", "--state", "--limit"}, {}},
    {"watch", 1, 1, {"--interval"}, {}},
    {"submit", 1, 1, {}, {}},
    {"validate", 1, 1, {}, {"--strict"}},
    {"pause", 1, 1, {}, {}},
    {"resume", 0, 1, {"--account", "--instance"}, {}},
    {"cancel", 1, 1, {}, {}},
    {"retry", 0, 1, {}, {"--dead"}},
    {"export", 1, 1, {"--format"}, {}},
    {"campaign", 2, 2, {}, {}},
    {"reconcile", 0, 1, {}, {}},
}};

const verb_spec* find_verb(std::string_view name) {
    for (const auto& v : verbs) {
        if (v.name == name) {
            return &v;
        }
    }
    return nullptr;
}

bool contains(std::span<const std::string_view> list, std::string_view s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

bool is_global_value(std::string_view name) {
    return name == "--config";
}
bool is_global_flag(std::string_view name) {
    return name == "--json" || name == "--help" || name == "-h" || name == "--version";
}

// Checks that need the whole line: exclusive forms, required options, values that must parse.
std::string check_verb(const command_line& c) {
    const auto& v = c.verb;
    if (v == "jobs") {
        if (!c.option("--batch")) {
            return "jobs needs --batch BATCH";
        }
        if (auto s = c.option("--state"); s && !parse_job_state(*s)) {
            return fmt::format(
                "unknown state \"{}\" (waiting, ready, inflight, sent, failed, dead, expired, "
                "cancelled, held)",
                *s);
        }
    }
    if (v == "resume") {
        const int forms = (c.positional.empty() ? 0 : 1) + (c.option("--account") ? 1 : 0) +
                          (c.option("--instance") ? 1 : 0);
        if (forms != 1) {
            return "resume takes one of: BATCH, --account NAME, --instance ID";
        }
    }
    if (v == "retry" && (c.positional.empty() == !c.flag("--dead"))) {
        return "retry takes one of: BATCH, --dead";
    }
    if (v == "export") {
        if (auto f = c.option("--format"); f && *f != "csv" && *f != "ndjson") {
            return fmt::format("unknown export format \"{}\" (csv or ndjson)", *f);
        }
    }
    if (v == "campaign" && c.positional[0] != "pause" && c.positional[0] != "resume") {
        return fmt::format("campaign takes pause or resume, not \"{}\"", c.positional[0]);
    }
    for (const char* name : {"--limit"}) {
        if (auto n = c.option(name)) {
            const bool digits =
                !n->empty() && n->size() <= 9 &&
                std::all_of(n->begin(), n->end(), [](char ch) { return ch >= '0' && ch <= '9'; });
            if (!digits || std::stoul(*n) == 0) {
                return fmt::format("{} needs a positive number, not \"{}\"", name, *n);
            }
        }
    }
    return {};
}

}  // namespace

std::optional<std::string> command_line::option(std::string_view name) const {
    if (auto it = options.find(std::string(name)); it != options.end()) {
        return it->second;
    }
    return std::nullopt;
}

parse_result parse_command_line(std::span<const std::string_view> args) {
    command_line c;
    std::vector<std::string_view> words;  // verb and positional arguments, in order
    std::vector<std::pair<std::string, std::optional<std::string>>> opts;  // options seen, value if inline
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (options_done || a.size() < 2 || a[0] != '-') {
            words.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
            continue;
        }
        std::string name(a);
        std::optional<std::string> value;
        if (auto eq = a.find('='); eq != std::string_view::npos && a.starts_with("--")) {
            name = std::string(a.substr(0, eq));
            value = std::string(a.substr(eq + 1));
        }
        // Whether it takes a value depends on the verb, which may come later: decide once the verb is known.
        // A value option's value is the next word; record it now by index.
        const verb_spec* spec = words.empty() ? nullptr : find_verb(words[0]);
        const bool takes_value =
            is_global_value(name) || (spec != nullptr && contains(spec->value_options, name)) ||
            (spec == nullptr && std::any_of(verbs.begin(), verbs.end(), [&](const verb_spec& v) {
                 return contains(v.value_options, name);
             }));
        if (takes_value && !value) {
            if (i + 1 >= args.size()) {
                return {std::nullopt, fmt::format("{} needs a value", name)};
            }
            value = std::string(args[++i]);
        }
        opts.emplace_back(std::move(name), std::move(value));
    }

    if (!words.empty()) {
        c.verb = std::string(words[0]);
        for (std::size_t i = 1; i < words.size(); ++i) {
            c.positional.emplace_back(words[i]);
        }
    }
    const verb_spec* spec = c.verb.empty() ? nullptr : find_verb(c.verb);
    for (auto& [name, value] : opts) {
        if (name == "--config") {
            c.config = *value;
        } else if (name == "--json") {
            c.json = true;
        } else if (name == "--help" || name == "-h") {
            c.help = true;
        } else if (name == "--version") {
            c.version = true;
        } else if (spec != nullptr && contains(spec->value_options, name)) {
            if (value->empty()) {
                return {std::nullopt, fmt::format("{} needs a value", name)};
            }
            c.options[name] = *value;
        } else if (spec != nullptr && contains(spec->flag_options, name) && !value) {
            c.flags.insert(name);
        } else if (spec == nullptr && !c.verb.empty()) {
            break;  // reported below as an unknown verb
        } else if (is_global_flag(name) && value) {
            return {std::nullopt, fmt::format("{} takes no value", name)};
        } else {
            return {std::nullopt, c.verb.empty() ? fmt::format("unknown option {}", name)
                                                 : fmt::format("{} has no option {}", c.verb, name)};
        }
    }
    if (c.help || c.version) {
        return {std::move(c), {}};
    }
    if (c.verb.empty()) {
        return {std::nullopt, "no command given"};
    }
    if (spec == nullptr) {
        return {std::nullopt, fmt::format("unknown command \"{}\"", c.verb)};
    }
    if (c.positional.size() < spec->min_positional) {
        return {std::nullopt, fmt::format("{}: missing argument", c.verb)};
    }
    if (c.positional.size() > spec->max_positional) {
        return {std::nullopt, fmt::format("{}: unexpected argument \"{}\"", c.verb, c.positional.back())};
    }
    if (std::string e = check_verb(c); !e.empty()) {
        return {std::nullopt, std::move(e)};
    }
    return {std::move(c), {}};
}

std::string_view usage_text() noexcept {
    return R"(usage: msgflashctl [--config PATH] [--json] COMMAND [ARGS]

Reads (from the queue database, read-only; --json for scripts):
  status                              queue per account and number: by state, by age, pace, holds
  batches [--account A] [--limit N] [--all]
                                      progress, ETA at the current pace and caps, jobs that will expire
  jobs --batch B [--state S] [--limit N]
                                      a batch's jobs (S: waiting ready inflight sent failed dead expired
                                      cancelled held)
  watch BATCH [--interval DUR]        live progress until the batch ends (a bar on a terminal, lines
                                      otherwise)
  export BATCH [--format csv|ndjson]  one row per recipient, as reports/<batch>.csv
  validate FILE [--strict]            dry run of the spool's reader; prints the error report
  submit FILE                         validate, then drop the file safely into <spool>/incoming

Changes (through the daemon's admin endpoint):
  pause BATCH | resume BATCH | cancel BATCH
  retry BATCH | retry --dead          dead and ambiguous-held jobs back to ready
  resume --account NAME | resume --instance ID
                                      lift a key or number hold
  campaign pause ID | campaign resume ID
  reconcile [BATCH]                   reconcile delivery statuses now

Options:
  --config PATH   the daemon's configuration (default /etc/msgflashd/msgflashd.toml)
  --json          machine-readable output
  --help, --version

Exit codes: 0 ok, 1 failure (daemon unreachable, not found, refused, invalid file), 2 usage.
)";
}

}  // namespace msgflash::ctl
