// `watch BATCH`: the batch's progress until its last job ends — a live bar redrawn in place on a terminal,
// one plain line per interval otherwise (logs, pipes). The rate is measured between samples; until it shows,
// the ETA comes from the pace the caps allow (as `batches` computes it).
#include <algorithm>
#include <cmath>
#include <csignal>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/duration.hpp"
#include "daemon/ctl_commands.hpp"
#include "daemon/ctl_format.hpp"

namespace msgflash::ctl {

namespace json = boost::json;

namespace {

constexpr auto terminal_interval = std::chrono::seconds{1};
constexpr auto plain_interval = std::chrono::seconds{10};
constexpr std::size_t bar_width = 30;

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_interrupt(int) {
    interrupted = 1;
}

timestamp wall_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

int run_watch(const context& ctx) {
    auto reader = open_queue(ctx);
    if (!reader) {
        return exit_failure;
    }
    const std::string& id = ctx.cmd.positional[0];
    std::chrono::milliseconds interval = ctx.out_is_terminal ? terminal_interval : plain_interval;
    if (auto text = ctx.cmd.option("--interval")) {
        auto d = parse_duration(*text);
        if (!d || d->count() <= 0) {
            fmt::print(ctx.err, "msgflashctl: --interval: not a duration: \"{}\" (e.g. 500ms, 2s)\n", *text);
            return exit_usage;
        }
        interval = *d;
    }
    std::signal(SIGINT, on_interrupt);
    rate_meter meter;
    bool drew = false;  // a bar is on the terminal's current line
    for (;;) {
        const timestamp now = wall_now();
        auto all = reader->batches(batches_considered);
        auto holds = reader->active_holds();
        auto b = reader->batch(id);
        if (!b || !all || !holds) {
            fmt::print(ctx.err, "{}msgflashctl: reading the queue failed\n", drew ? "\n" : "");
            return exit_failure;
        }
        if (!*b) {
            fmt::print(ctx.err, "{}msgflashctl: no batch \"{}\"\n", drew ? "\n" : "", id);
            return exit_failure;
        }
        const store::batch_info& batch = **b;
        const std::int64_t pending = batch.counts.pending();
        const std::int64_t done = batch.counts.total - pending;
        meter.sample(std::chrono::steady_clock::now(), done);
        // The estimate of the batch as one of the batches in flight.
        std::vector<store::batch_info> list = std::move(*all);
        if (std::none_of(list.begin(), list.end(), [&](const auto& x) { return x.id == batch.id; })) {
            list.push_back(batch);
        }
        const auto estimates = estimate_batches(ctx.cfg, list, *holds, now);
        batch_estimate est;
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (list[i].id == batch.id) {
                est = estimates[i];
            }
        }
        std::optional<double> rate = meter.rate();
        std::optional<std::chrono::seconds> eta = est.eta;
        if (rate && *rate > 0) {
            eta = std::chrono::seconds{
                static_cast<std::int64_t>(std::ceil(static_cast<double>(pending) / *rate))};
        }
        if (batch.state != batch_state::active && pending > 0) {
            eta.reset();
        }
        const bool finished = pending == 0;
        std::string extra;
        if (batch.state != batch_state::active) {
            extra = fmt::format("  {}{}", to_string(batch.state),
                                batch.hold_reason.empty() ? "" : " (" + batch.hold_reason + ")");
        }
        if (est.will_expire > 0) {
            extra += fmt::format("  {} will expire", est.will_expire);
        }
        if (ctx.cmd.json) {
            const json::object o{{"at", utc_time(now)},
                                 {"batch", batch.id},
                                 {"state", to_string(batch.state)},
                                 {"done", done},
                                 {"total", batch.counts.total},
                                 {"sent", batch.counts.sent},
                                 {"failed", batch.counts.failed + batch.counts.dead},
                                 {"pending", pending},
                                 {"rate", rate ? json::value(*rate) : json::value(nullptr)},
                                 {"eta_seconds", eta ? json::value(eta->count()) : json::value(nullptr)},
                                 {"will_expire", est.will_expire},
                                 {"finished", finished}};
            fmt::print(ctx.out, "{}\n", json::serialize(o));
        } else if (ctx.out_is_terminal) {
            fmt::print(ctx.out, "\r{} {}{}\x1b[K", batch.id,
                       progress_line(done, batch.counts.total, rate, eta, bar_width), extra);
            drew = true;
        } else {
            fmt::print(ctx.out, "{} {}: {}/{} done (sent {}, failed {}, pending {}), {}, ETA {}{}\n",
                       utc_time(now), batch.id, done, batch.counts.total, batch.counts.sent,
                       batch.counts.failed + batch.counts.dead, pending, rate_text(rate),
                       eta ? short_duration(*eta) : std::string("-"), extra);
        }
        std::fflush(ctx.out);
        if (finished) {
            if (drew) {
                fmt::print(ctx.out, "\n");
            }
            return exit_ok;
        }
        // Sleep in short steps so that Ctrl-C ends at once.
        const auto wake = std::chrono::steady_clock::now() + interval;
        while (!interrupted && std::chrono::steady_clock::now() < wake) {
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                wake - std::chrono::steady_clock::now(), std::chrono::milliseconds{100}));
        }
        if (interrupted) {
            if (drew) {
                fmt::print(ctx.out, "\n");
            }
            return exit_failure;
        }
    }
}

}  // namespace msgflash::ctl
