// `batches`, `jobs` and `export`: a batch's progress and estimate, its jobs, and its rows as in
// reports/<batch>.csv (SPEC §7), read from the queue read-only, page by page (bounded memory).
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "daemon/ctl_commands.hpp"
#include "daemon/ctl_format.hpp"
#include "report/report_format.hpp"

namespace msgflash::ctl {

namespace json = boost::json;

namespace {

// Rows read per page (one read transaction each).
constexpr std::size_t page_rows = 1'000;
// `batches` without --limit.
constexpr std::size_t default_batch_limit = 1'000;

std::int64_t done_of(const store::batch_counts& c) {
    return c.total - c.pending();
}

bool in_flight(const store::batch_info& b) {
    return !b.finished_at && b.state == batch_state::active && b.counts.pending() > 0;
}

std::string expiry_text(const store::batch_info& b) {
    return b.expires_at ? utc_time(*b.expires_at) : std::string("-");
}

std::string eta_text(const store::batch_info& b, const batch_estimate& e) {
    if (b.counts.pending() == 0) {
        return "done";
    }
    if (b.state != batch_state::active) {
        return std::string(to_string(b.state));
    }
    return e.eta ? short_duration(*e.eta) : std::string("never");
}

json::object counts_json(const store::batch_counts& c) {
    return json::object{{"total", c.total},         {"waiting", c.waiting},   {"ready", c.ready},
                        {"inflight", c.inflight},   {"held", c.held},         {"sent", c.sent},
                        {"failed", c.failed},       {"dead", c.dead},         {"expired", c.expired},
                        {"cancelled", c.cancelled}, {"pending", c.pending()}, {"done", done_of(c)}};
}

json::value opt_time_json(const std::optional<timestamp>& t) {
    return t ? json::value(utc_time(*t)) : json::value(nullptr);
}

}  // namespace

std::optional<store::queue_reader> open_queue(const context& ctx) {
    auto r = store::queue_reader::open({.path = ctx.cfg.queue.path});
    if (!r) {
        fmt::print(ctx.err, "msgflashctl: cannot open the queue {}: {}\n", ctx.cfg.queue.path.string(),
                   r.error().message());
        return std::nullopt;
    }
    return std::move(*r);
}

std::vector<batch_estimate> estimate_batches(const config& cfg, std::span<const store::batch_info> batches,
                                             std::span<const store::hold_info> holds, timestamp now) {
    auto held = [&](hold_scope scope, const std::string& subject) {
        for (const auto& h : holds) {
            if (h.scope == scope && h.subject == subject) {
                return true;
            }
        }
        return false;
    };
    // Batches that take a share of their account's pace and of their numbers' caps: those that can send.
    std::map<std::string, std::size_t> per_account;
    std::map<std::string, std::size_t> per_number;
    for (const auto& b : batches) {
        if (in_flight(b) && !held(hold_scope::key, b.account) && !held(hold_scope::batch, b.id)) {
            ++per_account[b.account];
            for (const auto& n : b.instance_ids) {
                ++per_number[n];
            }
        }
    }
    std::vector<batch_estimate> out;
    out.reserve(batches.size());
    for (const auto& b : batches) {
        double pace = 0;
        if (b.state == batch_state::active && !held(hold_scope::key, b.account) &&
            !held(hold_scope::batch, b.id)) {
            pace_inputs in;
            const account_config* a = cfg.find_account(b.account);
            in.account_rate = a != nullptr ? a->rate : documented_rate_per_key;
            in.account_batches_in_flight = std::max<std::size_t>(1, per_account[b.account]);
            for (const auto& n : b.instance_ids) {
                number_share s;
                if (held(hold_scope::number, n)) {
                    s.cap_rate = 0.0;
                } else if (const instance_config* caps = cfg.find_instance(n)) {
                    s.cap_rate = number_cap_rate(*caps);
                }
                s.batches_sharing = std::max<std::size_t>(1, per_number[n]);
                in.numbers.push_back(s);
            }
            pace = batch_pace(in);
        }
        out.push_back(estimate_batch(b.counts.pending(), pace, now, b.send_at, b.expires_at));
    }
    return out;
}

int run_batches(const context& ctx) {
    auto reader = open_queue(ctx);
    if (!reader) {
        return exit_failure;
    }
    const std::size_t limit =
        ctx.cmd.option("--limit") ? std::stoul(*ctx.cmd.option("--limit")) : default_batch_limit;
    // Estimates see every batch in flight (they share their account's pace), whatever is shown.
    auto all = reader->batches(std::max(limit, batches_considered));
    auto holds = reader->active_holds();
    if (!all || !holds) {
        fmt::print(ctx.err, "msgflashctl: reading the queue failed: {}\n",
                   (!all ? all.error() : holds.error()).message());
        return exit_failure;
    }
    const auto estimates = estimate_batches(ctx.cfg, *all, *holds, ctx.now);
    const auto account = ctx.cmd.option("--account");
    std::vector<std::size_t> shown;
    for (std::size_t i = 0; i < all->size(); ++i) {
        const auto& b = (*all)[i];
        if ((account && b.account != *account) || (!ctx.cmd.flag("--all") && b.finished_at)) {
            continue;
        }
        if (shown.size() == limit) {
            break;
        }
        shown.push_back(i);
    }
    if (ctx.cmd.json) {
        json::array arr;
        for (auto i : shown) {
            const auto& b = (*all)[i];
            const auto& e = estimates[i];
            arr.push_back(
                json::object{{"batch", b.id},
                             {"account", b.account},
                             {"state", to_string(b.state)},
                             {"hold_reason", b.hold_reason},
                             {"priority", b.priority},
                             {"source_file", b.source_file},
                             {"instances", json::value_from(b.instance_ids)},
                             {"created_at", utc_time(b.created_at)},
                             {"send_at", opt_time_json(b.send_at)},
                             {"expires_at", opt_time_json(b.expires_at)},
                             {"finished_at", opt_time_json(b.finished_at)},
                             {"counts", counts_json(b.counts)},
                             {"pace", e.pace},
                             {"eta_seconds", e.eta ? json::value(e.eta->count()) : json::value(nullptr)},
                             {"will_expire", e.will_expire}});
        }
        fmt::print(ctx.out, "{}\n", json::serialize(arr));
        return exit_ok;
    }
    if (shown.empty()) {
        fmt::print(ctx.out, "{}\n",
                   ctx.cmd.flag("--all") ? "No batches." : "No unfinished batches (--all shows every one).");
        return exit_ok;
    }
    table t({{"BATCH"},
             {"ACCOUNT"},
             {"STATE"},
             {"DONE", table::align::right},
             {"TOTAL", table::align::right},
             {"%", table::align::right},
             {"SENT", table::align::right},
             {"FAILED", table::align::right},
             {"PENDING", table::align::right},
             {"PACE", table::align::right},
             {"ETA", table::align::right},
             {"EXPIRES"},
             {"WILL EXPIRE", table::align::right}});
    for (auto i : shown) {
        const auto& b = (*all)[i];
        const auto& e = estimates[i];
        const double pct = b.counts.total > 0 ? 100.0 * static_cast<double>(done_of(b.counts)) /
                                                    static_cast<double>(b.counts.total)
                                              : 100.0;
        std::string state(to_string(b.state));
        if (!b.hold_reason.empty()) {
            state += " (" + b.hold_reason + ")";
        }
        t.add_row({b.id, b.account, state, std::to_string(done_of(b.counts)), std::to_string(b.counts.total),
                   fmt::format("{:.1f}", pct), std::to_string(b.counts.sent),
                   std::to_string(b.counts.failed + b.counts.dead), std::to_string(b.counts.pending()),
                   b.counts.pending() > 0 ? rate_text(e.pace) : std::string("-"), eta_text(b, e),
                   expiry_text(b), std::to_string(e.will_expire)});
    }
    fmt::print(ctx.out, "{}", t.render());
    return exit_ok;
}

namespace {

// The batch named `id`, or nothing after saying why on stderr (unreadable queue, no such batch).
std::optional<store::batch_info> find_batch(const context& ctx, store::queue_reader& reader,
                                            const std::string& id) {
    auto b = reader.batch(id);
    if (!b) {
        fmt::print(ctx.err, "msgflashctl: reading the queue failed: {}\n", b.error().message());
        return std::nullopt;
    }
    if (!*b) {
        fmt::print(ctx.err, "msgflashctl: no batch \"{}\"\n", id);
    }
    return std::move(*b);
}

table jobs_table() {
    return table({{"REF"},
                  {"TO"},
                  {"STATE"},
                  {"ATTEMPTS", table::align::right},
                  {"LAST CODE"},
                  {"MESSAGE ID"},
                  {"NUMBER"},
                  {"UPDATED"}});
}

}  // namespace

int run_jobs(const context& ctx) {
    auto reader = open_queue(ctx);
    if (!reader) {
        return exit_failure;
    }
    const std::string batch = *ctx.cmd.option("--batch");
    const std::optional<store::batch_info> b = find_batch(ctx, *reader, batch);
    if (!b) {
        return exit_failure;
    }
    std::optional<job_state> state;
    if (auto s = ctx.cmd.option("--state")) {
        state = parse_job_state(*s);
    }
    std::size_t left = ctx.cmd.option("--limit") ? std::stoul(*ctx.cmd.option("--limit"))
                                                 : std::numeric_limits<std::size_t>::max();
    table t = jobs_table();
    // A table needs every row for its widths: print it in pages of page_rows so memory stays bounded.
    bool first = true;
    std::string after;
    std::size_t count = 0;
    if (ctx.cmd.json) {
        fmt::print(ctx.out, "[");
    }
    while (left > 0) {
        auto page = reader->jobs(batch, state, after, std::min(left, page_rows));
        if (!page) {
            fmt::print(ctx.err, "\nmsgflashctl: reading the queue failed: {}\n", page.error().message());
            return exit_failure;
        }
        for (const auto& j : *page) {
            if (ctx.cmd.json) {
                const json::object o{{"ref", j.ref},
                                     {"to", j.to},
                                     {"state", to_string(j.state)},
                                     {"attempts", j.attempts},
                                     {"last_code", j.last_code},
                                     {"message_id", j.message_id},
                                     {"api_status", j.api_status},
                                     {"ambiguous", j.ambiguous},
                                     {"instance", j.instance_id},
                                     {"hold_reason", j.hold_reason},
                                     {"next_attempt_at", utc_time(j.next_attempt_at)},
                                     {"created_at", utc_time(j.created_at)},
                                     {"updated_at", utc_time(j.updated_at)},
                                     {"sent_at", opt_time_json(j.sent_at)}};
                fmt::print(ctx.out, "{}{}", first ? "" : ",\n", json::serialize(o));
            } else {
                std::string st(to_string(j.state));
                if (!j.hold_reason.empty()) {
                    st += " (" + j.hold_reason + ")";
                }
                t.add_row({j.ref, j.to, st, std::to_string(j.attempts),
                           j.last_code.empty() ? "-" : j.last_code, j.message_id.empty() ? "-" : j.message_id,
                           j.instance_id.empty() ? "-" : j.instance_id, utc_time(j.updated_at)});
            }
            first = false;
            ++count;
        }
        if (!ctx.cmd.json && t.rows() > 0) {
            fmt::print(ctx.out, "{}", t.render());
            t = jobs_table();
        }
        if (page->size() < std::min(left, page_rows)) {
            break;
        }
        left -= page->size();
        after = page->back().ref;
    }
    if (ctx.cmd.json) {
        fmt::print(ctx.out, "]\n");
    } else if (count == 0) {
        fmt::print(ctx.out, "No jobs.\n");
    }
    return exit_ok;
}

int run_export(const context& ctx) {
    auto reader = open_queue(ctx);
    if (!reader) {
        return exit_failure;
    }
    const std::string& batch = ctx.cmd.positional[0];
    const bool ndjson = ctx.cmd.option("--format").value_or("csv") == "ndjson";
    const std::optional<store::batch_info> b = find_batch(ctx, *reader, batch);
    if (!b) {
        return exit_failure;
    }
    // The rows of reports/<batch>.csv, formatted by the same code (lib/report), page by page: a reader that
    // is slow to take the output never holds a snapshot of the queue (nor its WAL) for the whole batch.
    if (!ndjson) {
        fmt::print(ctx.out, "{}", report::csv_header());
    }
    store::report_cursor cursor(*reader, b->rowid, page_rows);
    std::string out;
    for (;;) {
        auto page = cursor.next();
        if (!page) {
            fmt::print(ctx.err, "msgflashctl: reading the queue failed: {}\n", page.error().message());
            return exit_failure;
        }
        if (page->empty()) {
            break;
        }
        out.clear();
        for (const store::report_row& r : *page) {
            if (ndjson) {
                report::append_ndjson_row(out, r);
            } else {
                report::append_csv_row(out, r);
            }
        }
        fmt::print(ctx.out, "{}", out);
    }
    return exit_ok;
}

}  // namespace msgflash::ctl
