#include "daemon/app.hpp"

#include <chrono>
#include <csignal>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "api/api_client.hpp"
#include "core/version.hpp"
#include "daemon/admin_glue.hpp"
#include "daemon/sd_notify.hpp"
#include "engine/dispatch_engine.hpp"
#include "engine/real_ports.hpp"
#include "report/reporter.hpp"
#include "spool/spool_dirs.hpp"
#include "spool/spool_ingester.hpp"
#include "spool/spool_watcher.hpp"
#include "store/queue_ops.hpp"
#include "store/queue_reader.hpp"
#include "store/queue_store.hpp"

namespace msgflash::daemon {

namespace asio = boost::asio;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
// How often the store's upkeep runs (hold ends, expiry, counter pruning): a hold's end or an expiresAt is
// acted on at most this late.
constexpr std::chrono::seconds upkeep_interval{5};
// How often systemd's STATUS= is refreshed (systemctl status shows it).
constexpr std::chrono::milliseconds notify_status_interval{5000};

spdlog::level::level_enum to_spdlog(log_level l) {
    switch (l) {
        case log_level::trace:
            return spdlog::level::trace;
        case log_level::debug:
            return spdlog::level::debug;
        case log_level::info:
            return spdlog::level::info;
        case log_level::warn:
            return spdlog::level::warn;
        case log_level::error:
            return spdlog::level::err;
        case log_level::critical:
            return spdlog::level::critical;
        case log_level::off:
            return spdlog::level::off;
    }
    return spdlog::level::info;
}

timestamp wall_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

store::store_options store_options_from(const config& c, std::shared_ptr<spdlog::logger> log) {
    store::store_options o;
    o.path = c.queue.path;
    o.recovery.on_ambiguous = c.retry.on_ambiguous == ambiguous_policy::hold ? store::ambiguous_action::hold
                                                                             : store::ambiguous_action::retry;
    o.recovery.max_attempts = static_cast<int>(c.retry.max_attempts);
    o.now = wall_now();
    o.logger = std::move(log);
    return o;
}

engine::engine_options engine_options_from(const config& c, std::shared_ptr<spdlog::logger> log) {
    engine::engine_options o;
    for (const account_config& a : c.accounts) {
        o.accounts.push_back({.name = a.name, .rate = a.rate});
    }
    o.retry = engine::make_retry_rules(c.retry);
    for (const instance_config& i : c.instances) {
        o.number_caps[i.id] = send_caps{.per_minute = i.per_minute,
                                        .per_hour = i.per_hour,
                                        .per_day = i.per_day,
                                        .min_interval = i.min_interval};
    }
    o.per_recipient_gap = c.pacing.per_recipient_gap;
    o.instance_poll_interval = c.pacing.instance_poll_interval;
    o.health_poll_interval = c.pacing.health_poll_interval;
    o.shutdown_grace = c.shutdown_grace;
    o.pacer.jitter_bound = c.pacing.jitter_bound;
    o.pacer.housekeeping_share = c.pacing.housekeeping_share;
    o.reconcile.max_age = c.reconcile.max_age;
    o.seed = static_cast<std::uint64_t>(wall_now().time_since_epoch().count());
    o.log = std::move(log);
    return o;
}

std::vector<std::string> account_names(const config& c) {
    std::vector<std::string> names;
    for (const account_config& a : c.accounts) {
        names.push_back(a.name);
    }
    return names;
}

// What each number with caps of its own already sent in the current UTC minute, hour and day, from the
// store's counters: a restart must not hand a number a fresh day's budget.
std::map<std::string, window_counts, std::less<>> number_counts_from(store::queue_store& store,
                                                                     const config& c, spdlog::logger& log) {
    std::map<std::string, window_counts, std::less<>> counts;
    const timestamp now = wall_now();
    for (const instance_config& i : c.instances) {
        auto usage = store.submit(store::read_usage{.instance_id = i.id, .now = now});
        if (!usage) {
            log.warn("cannot read the send counters of number {}: {}; counting from 0", i.id,
                     usage.error().message());
            continue;
        }
        counts[i.id] = window_counts{.at = now,
                                     .minute = static_cast<std::uint64_t>(usage->this_minute),
                                     .hour = static_cast<std::uint64_t>(usage->this_hour),
                                     .day = static_cast<std::uint64_t>(usage->this_day)};
    }
    return counts;
}

// A previous process held the jobs of numbers it saw disconnected; whether they still are, only a poll can
// tell, and this process polls only numbers with work: their jobs go back to the queue, and the engine's
// first GET /instances holds them again if the number is still down.
void release_disconnected_holds(store::queue_store& store, spdlog::logger& log) {
    auto reader = store::queue_reader::open({.path = store.options().path});
    if (!reader) {
        log.error("cannot read the holds: {}", reader.error().message());
        return;
    }
    auto holds = reader->active_holds();
    if (!holds) {
        log.error("cannot read the holds: {}", holds.error().message());
        return;
    }
    for (const store::hold_info& h : *holds) {
        if (h.scope != hold_scope::number || h.cause != engine::number_disconnected_cause) {
            continue;
        }
        auto released = store.submit(store::release_hold(hold_scope::number, h.subject, wall_now()));
        if (released) {
            log.info("number {}: {} job(s) held while it was {} back in the queue until it is polled",
                     h.subject, released->jobs_resumed, h.reason_code);
        } else {
            log.error("number {}: cannot lift its hold: {}", h.subject, released.error().message());
        }
    }
}

// Store upkeep that no request needs, every upkeep_interval until `stop` is set (and `timer` cancelled):
// holds whose time has come lift (a quota hold at the end of its billing period), jobs past their batch's
// expiresAt expire even while nothing claims them (a held key, a disconnected number), counter windows no cap
// reads any more go.
asio::awaitable<void> upkeep(store::queue_store& store, asio::steady_timer& timer, const bool& stop,
                             spdlog::logger& log) {
    while (!stop) {
        timer.expires_after(upkeep_interval);
        const auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || stop) {
            co_return;
        }
        const timestamp now = wall_now();
        // Each await is its own statement, its operation a named local (GCC 12 and temporaries in co_await).
        store::release_due_holds release(now);
        auto release_op = store.async_submit(std::move(release), asio::use_awaitable);
        auto released = co_await std::move(release_op);
        if (released && *released > 0) {
            log.info("{} hold(s) reached their end and lifted", *released);
        }
        store::expire_due expire(now);
        auto expire_op = store.async_submit(std::move(expire), asio::use_awaitable);
        auto expired = co_await std::move(expire_op);
        if (expired && *expired > 0) {
            log.info("{} job(s) passed their batch's expiresAt unsent: expired", *expired);
        }
        store::prune_counters prune{.now = now};
        auto prune_op = store.async_submit(std::move(prune), asio::use_awaitable);
        auto pruned = co_await std::move(prune_op);
        if (!released || !expired || !pruned) {
            log.error("store upkeep failed: {}", (!released  ? released.error()
                                                  : !expired ? expired.error()
                                                             : pruned.error())
                                                     .message());
        }
    }
}

}  // namespace

std::shared_ptr<spdlog::logger> make_stderr_logger(log_level level) {
    auto log =
        std::make_shared<spdlog::logger>("msgflashd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    log->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
    log->set_level(to_spdlog(level));
    log->flush_on(spdlog::level::info);
    return log;
}

app::app(config cfg, key_map keys, config_loader reload, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(cfg)), keys_(std::move(keys)), reload_(std::move(reload)), log_(std::move(log)) {}

int app::run() {
    log_->info("msgflashd {} starting; queue {}", version, config_.queue.path.string());
    std::error_code dir_error;
    std::filesystem::create_directories(config_.queue.path.parent_path(), dir_error);

    // The admin endpoint first (docs/admin-api.md): /healthz and /readyz answer during recovery. One that
    // cannot listen stops the start: the address may be another msgflashd's, on the same queue.
    const std::filesystem::path state_dir = config_.queue.path.parent_path();
    std::string admin_error;
    const std::string token = load_or_create_admin_token(state_dir, admin_error);
    admin_front admin;
    if (token.empty() || !admin.start(config_.admin.listen, token, admin_error)) {
        log_->critical("admin: {}", admin_error);
        return exit_failure;
    }
    if (!write_admin_address(state_dir, admin.address(), admin_error)) {
        log_->warn("admin: {}; msgflashctl will use admin.listen", admin_error);
    }
    log_->info("admin: listening on {}", admin.address());
    struct address_file_remover {
        std::filesystem::path path;
        ~address_file_remover() {
            std::error_code ignored;
            std::filesystem::remove(path, ignored);
        }
    } remove_address{state_dir / "admin.address"};

    auto opened = store::queue_store::open(store_options_from(config_, log_));
    if (!opened) {
        log_->critical("cannot open the queue {}: {}", config_.queue.path.string(), opened.error().message());
        return exit_failure;
    }
    std::unique_ptr<store::queue_store> store = std::move(*opened);
    const store::recovery_report& rec = store->recovery();
    if (rec.inflight_found > 0) {
        log_->warn("recovered {} job(s) left inflight: {} retried, {} held as ambiguous, {} dead",
                   rec.inflight_found, rec.retried, rec.held, rec.dead);
    }
    release_disconnected_holds(*store, *log_);

    // The spool runs on its own thread (spool_watcher.hpp): a large file never holds up the dispatch.
    std::error_code spool_error;
    std::optional<spool::spool_dirs> dirs = spool::spool_dirs::open(config_.spool.dir, spool_error);
    if (!dirs) {
        log_->critical("cannot open the spool {}: {}", config_.spool.dir.string(), spool_error.message());
        store->close();
        return exit_failure;
    }
    spool::ingester_options ingest_options = spool::ingester_options::from_config(config_);
    ingest_options.logger = log_;
    spool::spool_ingester ingester(*dirs, *store, std::move(ingest_options));
    ingest_counters ingested;
    std::unique_ptr<spool::spool_watcher> watcher = spool::spool_watcher::create(
        dirs->incoming(), {.rescan_interval = config_.spool.rescan_interval, .logger = log_},
        [&ingester, &ingested](const std::string& name, std::stop_token stop) {
            ingested.add(ingester.ingest(name, stop));
        },
        spool_error);
    if (!watcher) {
        log_->critical("cannot watch {}/incoming: {}", config_.spool.dir.string(), spool_error.message());
        store->close();
        return exit_failure;
    }

    asio::io_context io(1);
    std::optional<api::api_client> client;
    try {
        client.emplace(io.get_executor(), api::make_client_options(config_.api), log_);
    } catch (const std::exception& e) {
        log_->critical("cannot set up the API client for {}: {}", config_.api.base_url.to_string(), e.what());
        watcher.reset();
        store->close();
        return exit_failure;
    }

    engine::store_queue_port queue(*store);
    engine::client_send_port sender(*client, keys_);
    engine::system_time_port time(io.get_executor());
    engine::engine_options options = engine_options_from(config_, log_);
    options.number_counts = number_counts_from(*store, config_, *log_);
    engine::dispatch_engine dispatcher(std::move(options), queue, sender, time);

    daemon_admin admin_glue(config_, *store, dispatcher, sender, ingested, log_);
    admin.attach(io.get_executor(), &admin_glue);

    // SIGHUP: the configuration and keys again. A refused one changes nothing; a good one replaces the keys
    // and lifts every key hold (the operator's word that a key or subscription was fixed: a key still
    // refused is held again at its first answer). Other settings take effect at the next start.
    const auto reload = [&]() -> asio::awaitable<void> {
        std::optional<loaded_config> fresh = reload_ ? reload_() : std::nullopt;
        if (!fresh) {
            log_->error("SIGHUP: the configuration or a key was refused; the running configuration stays");
            admin_glue.note_reload(false);
            co_return;
        }
        const std::vector<std::string> names = account_names(fresh->cfg);
        if (names != account_names(config_)) {
            log_->error("SIGHUP: accounts were added or removed; that needs a restart. Nothing reloaded");
            admin_glue.note_reload(false);
            co_return;
        }
        config next = fresh->cfg;
        for (std::size_t i = 0; i < next.accounts.size(); ++i) {
            next.accounts[i].key_file =
                config_.accounts[i].key_file;  // where a key comes from is not a setting
            next.accounts[i].key_env = config_.accounts[i].key_env;
        }
        if (!(next == config_)) {
            log_->warn("SIGHUP: settings other than the keys changed; they take effect at the next start");
        }
        sender.replace_keys(std::move(fresh->keys));
        admin_glue.note_reload(true);
        log_->info("SIGHUP: keys reloaded for {} account(s)", names.size());
        for (const std::string& name : names) {
            store::release_hold lift(hold_scope::key, name, wall_now());
            auto op = store->async_submit(std::move(lift), asio::use_awaitable);
            auto lifted = co_await std::move(op);
            if (!lifted) {
                log_->error("SIGHUP: account {}: hold not lifted: {}", name, lifted.error().message());
                continue;
            }
            if (lifted->was_held) {
                log_->info("SIGHUP: account {}: key hold lifted, {} job(s) back in line", name,
                           lifted->jobs_resumed);
            }
            dispatcher.resume_account(name);
        }
    };
    // systemd (Type=notify): READY=1 below, once recovered and watching; STATUS= and WATCHDOG=1 meanwhile.
    systemd_notifier notifier(log_);
    const std::vector<std::string> account_list = account_names(config_);
    const auto status_now = [&] {
        double pace = 0;
        for (const std::string& a : account_list) {
            pace += dispatcher.current_rate(a);
        }
        return status_line(dispatcher.stats(), pace, account_list.size());
    };
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    std::function<void()> arm = [&] {
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) {
                return;
            }
            if (sig == SIGHUP) {
                asio::co_spawn(io, reload(), asio::detached);
            } else {
                log_->info("{}: stopping (grace {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                           config_.shutdown_grace.count());
                notifier.stopping("stopping: in-flight requests finishing; " + status_now());
                dispatcher.stop();
            }
            arm();
        });
    };
    arm();

    asio::steady_timer upkeep_timer(io);
    bool upkeep_stop = false;
    asio::co_spawn(io, upkeep(*store, upkeep_timer, upkeep_stop, *log_), asio::detached);

    asio::steady_timer notify_timer(io);
    bool notify_stop = false;
    asio::co_spawn(io, notify_loop(notifier, notify_timer, notify_stop, notify_status_interval, status_now),
                   asio::detached);

    bool failed = false;
    asio::co_spawn(io, dispatcher.run(), [&](std::exception_ptr e) {
        if (e) {
            failed = true;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log_->critical("engine failed: {}", x.what());
            }
        }
        signals.cancel();
        upkeep_stop = true;
        upkeep_timer.cancel();
        notify_stop = true;
        notify_timer.cancel();
        notifier.stopping(failed ? "stopping: the engine failed" : "stopping: " + status_now());
        client->shutdown();
        admin.detach();
    });
    // Reports of finished batches (SPEC §7), on the reporter's own thread: their file I/O never holds up the
    // writer or this io_context.
    report::reporter_options report_options;
    report_options.reports_dir = config_.spool.dir / "reports";
    report_options.interval = config_.reports.interval;
    report_options.min_rewrite_interval = config_.reports.min_rewrite_interval;
    report_options.logger = log_;
    report::reporter reporter(*store, std::move(report_options));
    reporter.start();
    watcher->start();
    admin.set_ready();
    notifier.ready(status_now());
    io.run();
    const engine::lateness_histogram& late = dispatcher.stats().lateness;
    const auto ms = [](engine::lateness_histogram::duration d) {
        return std::chrono::duration<double, std::milli>(d).count();
    };
    log_->info(
        "engine: send lateness p50 {:.3f} ms p99 {:.3f} ms max {:.3f} ms ({} sends behind a pacer slot)",
        ms(late.quantile(0.5)), ms(late.quantile(0.99)), ms(late.max()), late.count());
    // The spool and the reporter stop first (an ingest in progress is abandoned whole and redone at the
    // next start), then the store commits what is pending and closes.
    watcher->stop();
    reporter
        .stop();  // a report being written is abandoned whole (the previous one stays) and redone at start
    client.reset();
    store->close();
    log_->info("msgflashd stopped");
    return failed ? exit_failure : exit_ok;
}

}  // namespace msgflash::daemon
