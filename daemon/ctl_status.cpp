// `msgflashctl status`: the queue like Postfix's qshape — per account and per number, jobs by state and
// pending jobs by age — with the current pace, the numbers' counters against their caps, and every hold.
#include <array>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "daemon/ctl_commands.hpp"
#include "daemon/ctl_format.hpp"
#include "store/sqlite.hpp"

namespace msgflash::ctl {

namespace json = boost::json;

namespace {

// qshape's age buckets, in minutes since the job was queued; the last column is everything older.
constexpr std::array<std::int64_t, 9> age_limits_minutes{5, 10, 20, 40, 80, 160, 320, 640, 1280};
constexpr std::size_t age_buckets = age_limits_minutes.size() + 1;
constexpr std::int64_t pace_window_ms = 60'000;  // "current pace": jobs sent in the last minute

constexpr std::array<job_state, 9> all_states{job_state::waiting, job_state::ready,   job_state::inflight,
                                              job_state::held,    job_state::sent,    job_state::failed,
                                              job_state::dead,    job_state::expired, job_state::cancelled};

struct shape_row {
    std::array<std::int64_t, all_states.size()> by_state{};
    std::array<std::int64_t, age_buckets> by_age{};  // pending jobs only
    std::int64_t sent_last_minute = 0;

    std::int64_t total() const {
        std::int64_t t = 0;
        for (auto n : by_state) {
            t += n;
        }
        return t;
    }
    std::int64_t pending() const {
        std::int64_t t = 0;
        for (auto n : by_age) {
            t += n;
        }
        return t;
    }
    void add(const shape_row& o) {
        for (std::size_t i = 0; i < by_state.size(); ++i) {
            by_state[i] += o.by_state[i];
        }
        for (std::size_t i = 0; i < by_age.size(); ++i) {
            by_age[i] += o.by_age[i];
        }
        sent_last_minute += o.sent_last_minute;
    }
};

std::size_t state_index(job_state s) {
    for (std::size_t i = 0; i < all_states.size(); ++i) {
        if (all_states[i] == s) {
            return i;
        }
    }
    return 0;
}

// account → number ("" when the job has none yet) → row.
using shape_map = std::map<std::string, std::map<std::string, shape_row>>;

shape_map read_shape(store::queue_reader& reader, timestamp now) {
    std::string age_case = "CASE";
    for (std::size_t i = 0; i < age_limits_minutes.size(); ++i) {
        age_case += fmt::format(" WHEN ?1 - j.created_at < {} THEN {}", age_limits_minutes[i] * 60'000, i);
    }
    age_case += fmt::format(" ELSE {} END", age_limits_minutes.size());
    sqlite3* db = reader.handle();
    store::statement begin(db, "BEGIN");
    begin.run();
    shape_map out;
    try {
        store::statement s(db, "SELECT a.name, coalesce(j.instance_id, ''), j.state, " + age_case +
                                   ", count(*), sum(j.sent_at >= ?1 - ?2) FROM jobs j JOIN accounts a ON "
                                   "a.id = j.account_id GROUP BY 1, 2, 3, 4");
        s.bind(1, to_millis(now)).bind(2, pace_window_ms);
        while (s.step()) {
            shape_row& r = out[s.str(0)][s.str(1)];
            const auto state = parse_job_state(s.text(2)).value_or(job_state::ready);
            const auto bucket = static_cast<std::size_t>(s.int64(3));
            const std::int64_t n = s.int64(4);
            r.by_state[state_index(state)] += n;
            if (!is_terminal(state)) {
                r.by_age[std::min(bucket, age_buckets - 1)] += n;
            }
            r.sent_last_minute += s.is_null(5) ? 0 : s.int64(5);
        }
    } catch (...) {
        store::statement(db, "COMMIT").run();
        throw;
    }
    store::statement(db, "COMMIT").run();
    return out;
}

json::object counts_json(const shape_row& r) {
    json::object o;
    for (std::size_t i = 0; i < all_states.size(); ++i) {
        o[to_string(all_states[i])] = r.by_state[i];
    }
    o["total"] = r.total();
    return o;
}

json::object age_json(const shape_row& r) {
    json::object o;
    for (std::size_t i = 0; i < age_buckets; ++i) {
        const std::string key = i < age_limits_minutes.size()
                                    ? fmt::format("lt_{}m", age_limits_minutes[i])
                                    : fmt::format("ge_{}m", age_limits_minutes.back());
        o[key] = r.by_age[i];
    }
    o["pending"] = r.pending();
    return o;
}

std::string caps_text(const instance_config* caps) {
    if (caps == nullptr) {
        return "-";
    }
    std::string t;
    auto add = [&](std::string_view what, const std::optional<std::uint32_t>& v) {
        if (v) {
            t += fmt::format("{}{}/{}", t.empty() ? "" : " ", *v, what);
        }
    };
    add("min", caps->per_minute);
    add("h", caps->per_hour);
    add("day", caps->per_day);
    return t.empty() ? "-" : t;
}

std::string number_label(const std::string& n) {
    return n.empty() ? "(unassigned)" : n;
}

}  // namespace

int run_status(const context& ctx) {
    auto reader = open_queue(ctx);
    if (!reader) {
        return exit_failure;
    }
    shape_map shape;
    try {
        shape = read_shape(*reader, ctx.now);
    } catch (const store::store_exception& e) {
        fmt::print(ctx.err, "msgflashctl: reading the queue failed: {}\n", e.error().message());
        return exit_failure;
    }
    auto holds = reader->active_holds();
    if (!holds) {
        fmt::print(ctx.err, "msgflashctl: reading the holds failed: {}\n", holds.error().message());
        return exit_failure;
    }
    // Numbers: usage counters for every number seen in the queue or capped in the config.
    std::map<std::string, store::number_usage> usage;
    for (const auto& [account, numbers] : shape) {
        for (const auto& [number, row] : numbers) {
            if (!number.empty()) {
                usage[number];
            }
        }
    }
    for (const auto& i : ctx.cfg.instances) {
        usage[i.id];
    }
    for (auto& [number, u] : usage) {
        if (auto r = reader->usage(number, ctx.now)) {
            u = *r;
        }
    }
    auto rate_of = [&](const std::string& account) -> std::optional<std::uint32_t> {
        if (const auto* a = ctx.cfg.find_account(account)) {
            return a->rate;
        }
        return std::nullopt;
    };

    if (ctx.cmd.json) {
        json::array accounts;
        for (const auto& [account, numbers] : shape) {
            shape_row total;
            json::array nums;
            for (const auto& [number, row] : numbers) {
                total.add(row);
                json::object n{{"instance", number.empty() ? json::value(nullptr) : json::value(number)},
                               {"counts", counts_json(row)},
                               {"age", age_json(row)},
                               {"sent_last_minute", row.sent_last_minute}};
                nums.push_back(std::move(n));
            }
            const auto rate = rate_of(account);
            accounts.push_back(json::object{{"account", account},
                                            {"configured", rate.has_value()},
                                            {"rate", rate ? json::value(*rate) : json::value(nullptr)},
                                            {"pace", static_cast<double>(total.sent_last_minute) / 60.0},
                                            {"counts", counts_json(total)},
                                            {"age", age_json(total)},
                                            {"numbers", std::move(nums)}});
        }
        json::array numbers;
        for (const auto& [number, u] : usage) {
            const instance_config* caps = ctx.cfg.find_instance(number);
            auto opt = [](const std::optional<std::uint32_t>& v) {
                return v ? json::value(*v) : json::value(nullptr);
            };
            numbers.push_back(json::object{
                {"instance", number},
                {"this_minute", u.this_minute},
                {"this_hour", u.this_hour},
                {"this_day", u.this_day},
                {"last_60_minutes", u.last_60_minutes},
                {"last_24_hours", u.last_24_hours},
                {"caps", caps == nullptr ? json::value(nullptr)
                                         : json::value(json::object{{"per_minute", opt(caps->per_minute)},
                                                                    {"per_hour", opt(caps->per_hour)},
                                                                    {"per_day", opt(caps->per_day)}})}});
        }
        json::array hs;
        for (const auto& h : *holds) {
            hs.push_back(
                json::object{{"scope", to_string(h.scope)},
                             {"subject", h.subject},
                             {"cause", h.cause},
                             {"reason_code", h.reason_code},
                             {"since", utc_time(h.since)},
                             {"until", h.until ? json::value(utc_time(*h.until)) : json::value(nullptr)}});
        }
        const json::object doc{{"now", utc_time(ctx.now)},
                               {"accounts", std::move(accounts)},
                               {"numbers", std::move(numbers)},
                               {"holds", std::move(hs)}};
        fmt::print(ctx.out, "{}\n", json::serialize(doc));
        return exit_ok;
    }

    if (shape.empty()) {
        fmt::print(ctx.out, "The queue is empty.\n");
    }
    // Jobs by state.
    std::vector<table::column> cols{{"ACCOUNT"}, {"NUMBER"}, {"TOTAL", table::align::right}};
    for (auto s : all_states) {
        std::string h(to_string(s));
        for (auto& ch : h) {
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        cols.push_back({h, table::align::right});
    }
    table by_state(cols);
    std::vector<table::column> age_cols{{"ACCOUNT"}, {"NUMBER"}, {"PENDING", table::align::right}};
    for (auto m : age_limits_minutes) {
        age_cols.push_back({fmt::format("<{}m", m), table::align::right});
    }
    age_cols.push_back({fmt::format("{}m+", age_limits_minutes.back()), table::align::right});
    table by_age(age_cols);
    table pace({{"ACCOUNT"}, {"RATE", table::align::right}, {"PACE", table::align::right}, {"HELD"}});

    auto state_cells = [](std::string a, std::string n, const shape_row& r) {
        std::vector<std::string> c{std::move(a), std::move(n), std::to_string(r.total())};
        for (auto v : r.by_state) {
            c.push_back(std::to_string(v));
        }
        return c;
    };
    auto age_cells = [](std::string a, std::string n, const shape_row& r) {
        std::vector<std::string> c{std::move(a), std::move(n), std::to_string(r.pending())};
        for (auto v : r.by_age) {
            c.push_back(std::to_string(v));
        }
        return c;
    };
    for (const auto& [account, numbers] : shape) {
        shape_row total;
        for (const auto& [number, row] : numbers) {
            total.add(row);
        }
        by_state.add_row(state_cells(account, "*", total));
        by_age.add_row(age_cells(account, "*", total));
        if (numbers.size() > 1 || !numbers.begin()->first.empty()) {
            for (const auto& [number, row] : numbers) {
                by_state.add_row(state_cells("", number_label(number), row));
                by_age.add_row(age_cells("", number_label(number), row));
            }
        }
        std::string held = "no";
        for (const auto& h : *holds) {
            if (h.scope == hold_scope::key && h.subject == account) {
                held = fmt::format("yes ({})", h.reason_code.empty() ? h.cause : h.reason_code);
            }
        }
        const auto rate = rate_of(account);
        pace.add_row({account, rate ? fmt::format("{}/s", *rate) : std::string("(not configured)"),
                      rate_text(static_cast<double>(total.sent_last_minute) / 60.0), held});
    }
    if (!shape.empty()) {
        fmt::print(ctx.out, "Jobs by state ({})\n{}\n", utc_time(ctx.now), by_state.render());
        fmt::print(ctx.out, "Pending jobs by age since queued\n{}\n", by_age.render());
        fmt::print(ctx.out, "Pace (sent in the last minute)\n{}\n", pace.render());
    }
    if (!usage.empty()) {
        table nums({{"NUMBER"},
                    {"MINUTE", table::align::right},
                    {"HOUR", table::align::right},
                    {"DAY", table::align::right},
                    {"LAST 24H", table::align::right},
                    {"CAPS"}});
        for (const auto& [number, u] : usage) {
            nums.add_row({number, std::to_string(u.this_minute), std::to_string(u.this_hour),
                          std::to_string(u.this_day), std::to_string(u.last_24_hours),
                          caps_text(ctx.cfg.find_instance(number))});
        }
        fmt::print(ctx.out, "Numbers (sends in the current UTC minute, hour, day)\n{}\n", nums.render());
    }
    if (holds->empty()) {
        fmt::print(ctx.out, "Holds: none\n");
    } else {
        table hs({{"SCOPE"}, {"SUBJECT"}, {"CAUSE"}, {"CODE"}, {"SINCE"}, {"UNTIL"}});
        for (const auto& h : *holds) {
            hs.add_row({std::string(to_string(h.scope)), h.subject, h.cause,
                        h.reason_code.empty() ? "-" : h.reason_code, utc_time(h.since),
                        h.until ? utc_time(*h.until) : std::string("release")});
        }
        fmt::print(ctx.out, "Holds\n{}", hs.render());
    }
    return exit_ok;
}

}  // namespace msgflash::ctl
