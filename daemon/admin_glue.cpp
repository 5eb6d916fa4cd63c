#include "daemon/admin_glue.hpp"

#include <algorithm>
#include <array>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>

#include "admin/metrics_text.hpp"
#include "core/version.hpp"
#include "store/queue_ops.hpp"

namespace msgflash::daemon {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

timestamp wall_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

admin::admin_reply ok_reply(json::object o) {
    o.emplace("ok", true);
    return {.status = 200, .content_type = "application/json", .body = json::serialize(o)};
}

// A store failure as an answer: what the operator named does not exist, cannot be done, or the store failed.
admin::admin_reply store_failure(const store::store_error& e) {
    if (e.code == store::make_error_code(store::store_errc::not_found)) {
        return admin::error_reply(404, "NOT_FOUND", e.message());
    }
    if (e.code == store::make_error_code(store::store_errc::invalid_argument) ||
        e.code == store::make_error_code(store::store_errc::invalid_transition)) {
        return admin::error_reply(409, "CONFLICT", e.message());
    }
    return admin::error_reply(500, "INTERNAL", e.message());
}

// Waiting for a slot of a key's pacer (dispatch_engine::request_slot).
struct slot_wait {
    explicit slot_wait(const asio::any_io_executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
};

template <class Op>
asio::awaitable<store::store_result<store::detail::op_value_t<Op>>> submit(store::queue_store& store, Op op) {
    auto pending = store.async_submit(std::move(op), asio::use_awaitable);
    co_return co_await std::move(pending);
}

}  // namespace

void ingest_counters::add(const spool::file_report& r) {
    if (r.outcome == spool::file_outcome::accepted) {
        ++accepted;
    } else if (r.outcome == spool::file_outcome::rejected) {
        ++rejected;
    }
    recipients += r.inserted;
    skipped += r.skipped;
    duplicates += r.duplicates;
}

daemon_admin::daemon_admin(const config& cfg, store::queue_store& store, engine::dispatch_engine& engine,
                           engine::client_send_port& api, const ingest_counters& ingested,
                           std::shared_ptr<spdlog::logger> log)
    : config_(cfg), store_(store), engine_(engine), api_(api), ingested_(ingested), log_(std::move(log)) {}

store::queue_reader* daemon_admin::reader() {
    if (!reader_) {
        auto r = store::queue_reader::open({.path = store_.options().path});
        if (!r) {
            log_->warn("admin: cannot open the queue read-only: {}", r.error().message());
            return nullptr;
        }
        reader_.emplace(std::move(*r));
    }
    return &*reader_;
}

namespace {

void basic_metrics(admin::metrics_text& m, bool ready) {
    m.family("msgflash_build_info", "gauge", "The running msgflashd's version.");
    m.sample("msgflash_build_info", {{"version", version}}, 1);
    m.single("msgflash_ready", "gauge", "1 once recovery is done, the queue open and the spool watched.",
             ready ? 1 : 0);
}

}  // namespace

std::string daemon_admin::metrics(bool ready) {
    admin::metrics_text m;
    basic_metrics(m, ready);
    m.family("msgflash_uptime_seconds", "gauge", "Seconds since msgflashd started.");
    m.sample("msgflash_uptime_seconds",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    m.family("msgflash_config_reloads_total", "counter", "SIGHUP reloads by result.");
    m.sample("msgflash_config_reloads_total", {{"result", "ok"}}, static_cast<double>(reloads_ok_));
    m.sample("msgflash_config_reloads_total", {{"result", "refused"}}, static_cast<double>(reloads_refused_));

    if (store::queue_reader* r = reader()) {
        if (auto shape = r->shape()) {
            m.family("msgflash_jobs", "gauge", "Jobs in the queue by account and state.");
            for (const store::account_shape& a : *shape) {
                const std::pair<std::string_view, std::int64_t> states[] = {
                    {"waiting", a.counts.waiting},    {"ready", a.counts.ready},
                    {"inflight", a.counts.inflight},  {"held", a.counts.held},
                    {"sent", a.counts.sent},          {"failed", a.counts.failed},
                    {"dead", a.counts.dead},          {"expired", a.counts.expired},
                    {"cancelled", a.counts.cancelled}};
                for (const auto& [state, n] : states) {
                    m.sample("msgflash_jobs", {{"account", a.account}, {"state", state}},
                             static_cast<double>(n));
                }
            }
        }
        if (auto holds = r->active_holds()) {
            std::map<std::pair<std::string, std::string>, int> by;
            for (const store::hold_info& h : *holds) {
                ++by[{std::string(to_string(h.scope)), h.cause}];
            }
            m.family("msgflash_holds", "gauge", "Active holds by scope (key, number, batch) and cause.");
            for (const auto& [k, n] : by) {
                m.sample("msgflash_holds", {{"scope", k.first}, {"cause", k.second}}, n);
            }
        }
    }

    if (store::queue_reader* r = reader()) {
        if (auto backlog = r->deliveries_backlog(wall_now())) {
            const timestamp now = wall_now();
            // Every configured account has its samples, 0 when nothing of it waits.
            std::vector<store::delivery_backlog> by_account;
            for (const account_config& a : config_.accounts) {
                const auto it =
                    std::find_if(backlog->begin(), backlog->end(),
                                 [&](const store::delivery_backlog& b) { return b.account == a.name; });
                store::delivery_backlog b = it != backlog->end() ? *it : store::delivery_backlog{};
                b.account = a.name;
                by_account.push_back(std::move(b));
            }
            m.family("msgflash_reconcile_backlog", "gauge",
                     "Sent messages whose delivery status is not settled yet, by account.");
            for (const store::delivery_backlog& b : by_account) {
                m.sample("msgflash_reconcile_backlog", {{"account", b.account}},
                         static_cast<double>(b.unsettled));
            }
            m.family("msgflash_reconcile_due", "gauge",
                     "Delivery checks due now and not yet made, by account.");
            for (const store::delivery_backlog& b : by_account) {
                m.sample("msgflash_reconcile_due", {{"account", b.account}}, static_cast<double>(b.due));
            }
            m.family("msgflash_reconcile_lag_seconds", "gauge",
                     "How long the oldest due delivery check has waited, by account (0: none due).");
            for (const store::delivery_backlog& b : by_account) {
                const double lag = b.oldest_due && *b.oldest_due < now
                                       ? std::chrono::duration<double>(now - *b.oldest_due).count()
                                       : 0.0;
                m.sample("msgflash_reconcile_lag_seconds", {{"account", b.account}}, lag);
            }
        }
    }

    const engine::engine_stats& s = engine_.stats();
    m.single("msgflash_requests_total", "counter", "Sends made to the API.", static_cast<double>(s.requests));
    m.family("msgflash_sends_total", "counter", "Answers to sends by what they did to their job.");
    const std::pair<std::string_view, std::uint64_t> outcomes[] = {
        {"sent", s.sent}, {"failed", s.failed},       {"retried", s.retried},          {"dead", s.dead},
        {"held", s.held}, {"ambiguous", s.ambiguous}, {"rate_limited", s.rate_limited}};
    for (const auto& [outcome, n] : outcomes) {
        m.sample("msgflash_sends_total", {{"outcome", outcome}}, static_cast<double>(n));
    }
    m.family("msgflash_api_errors_total", "counter", "Error answers to sends by the API's code.");
    for (const auto& [code, n] : s.api_codes) {
        m.sample("msgflash_api_errors_total", {{"code", code}}, static_cast<double>(n));
    }
    m.single("msgflash_rate_limited_total", "counter", "429 API_RATE_LIMIT_EXCEEDED answers.",
             static_cast<double>(s.rate_limited));
    m.single("msgflash_polls_total", "counter", "GET /instances and /instances/{id}/health polls.",
             static_cast<double>(s.polls));
    m.family("msgflash_reconcile_requests_total", "counter",
             "Reconciliation reads: GET /messages/{id}, and GET /messages pages for delivery checks and for "
             "settling ambiguous attempts.");
    m.sample("msgflash_reconcile_requests_total", {{"kind", "get"}}, static_cast<double>(s.delivery_reads));
    m.sample("msgflash_reconcile_requests_total", {{"kind", "list"}}, static_cast<double>(s.delivery_pages));
    m.sample("msgflash_reconcile_requests_total", {{"kind", "settle"}}, static_cast<double>(s.settle_pages));
    m.family("msgflash_deliveries_settled_total", "counter",
             "Deliveries whose reconciliation ended, by how: delivered, read, failed, gave-up, not-found.");
    for (const std::string_view how : {"delivered", "read", "failed", "gave-up", "not-found"}) {
        const auto it = s.deliveries_settled.find(how);
        m.sample("msgflash_deliveries_settled_total", {{"status", how}},
                 it == s.deliveries_settled.end() ? 0.0 : static_cast<double>(it->second));
    }
    m.family("msgflash_ambiguous_settled_total", "counter",
             "Ambiguous attempts settled before any retry: the message was found sent (no second request), "
             "not found (retried or held as retry.on_ambiguous says), or unresolved (the list could not be "
             "read).");
    m.sample("msgflash_ambiguous_settled_total", {{"outcome", "settled-found"}},
             static_cast<double>(s.settled_found));
    m.sample("msgflash_ambiguous_settled_total", {{"outcome", "settled-not-found"}},
             static_cast<double>(s.settled_not_found));
    m.sample("msgflash_ambiguous_settled_total", {{"outcome", "unresolved"}},
             static_cast<double>(s.settle_unresolved));
    m.single("msgflash_template_previews_total", "counter", "Template previews sent.",
             static_cast<double>(s.previews));
    m.single("msgflash_breaker_opened_total", "counter", "Times a number's breaker opened.",
             static_cast<double>(s.breaker_opened));
    m.single("msgflash_batches_held_total", "counter",
             "Batches held by the batch breaker or a refused preview.", static_cast<double>(s.batches_held));
    const auto duration_histogram = [&](std::string_view name, std::string_view help,
                                        const engine::lateness_histogram& h) {
        std::vector<double> upper;
        std::vector<std::uint64_t> cumulative;
        h.each_octave(std::chrono::seconds(60), [&](std::chrono::microseconds at, std::uint64_t n) {
            upper.push_back(static_cast<double>(at.count()) / 1e6);
            cumulative.push_back(n);
        });
        m.family(name, "histogram", help);
        m.histogram(name, {}, upper, cumulative, std::chrono::duration<double>(h.sum()).count(), h.count());
    };
    duration_histogram(
        "msgflash_pacer_wait_seconds",
        "From a job entering its key's window to its send leaving (the pacer's and its numbers' wait).",
        s.pacer_wait);
    duration_histogram("msgflash_send_lateness_seconds",
                       "How late sends left behind the slot the scheduler set for them.", s.lateness);
    duration_histogram("msgflash_request_latency_seconds", "From a send leaving to its answer.",
                       s.answer_latency);
    m.family("msgflash_pace_requests_per_second", "gauge", "Each key's current pace.");
    for (const account_config& a : config_.accounts) {
        m.sample("msgflash_pace_requests_per_second", {{"account", a.name}}, engine_.current_rate(a.name));
    }

    m.family("msgflash_ingested_files_total", "counter", "Spool files by outcome.");
    m.sample("msgflash_ingested_files_total", {{"outcome", "accepted"}},
             static_cast<double>(ingested_.accepted));
    m.sample("msgflash_ingested_files_total", {{"outcome", "rejected"}},
             static_cast<double>(ingested_.rejected));
    m.single("msgflash_ingested_recipients_total", "counter", "Recipients queued from the spool.",
             static_cast<double>(ingested_.recipients));
    m.family("msgflash_ingest_rejections_total", "counter",
             "Recipients left out of accepted files, by reason.");
    m.sample("msgflash_ingest_rejections_total", {{"reason", "invalid"}},
             static_cast<double>(ingested_.skipped));
    m.sample("msgflash_ingest_rejections_total", {{"reason", "duplicate"}},
             static_cast<double>(ingested_.duplicates));

    const store::writer_stats w = store_.stats();
    m.single("msgflash_store_commits_total", "counter", "Transactions the queue's writer committed.",
             static_cast<double>(w.commits));
    m.single("msgflash_store_operations_total", "counter", "Operations the queue's writer ran.",
             static_cast<double>(w.ops));
    m.single("msgflash_store_lost_groups_total", "counter", "Transactions that failed to commit.",
             static_cast<double>(w.lost_groups));
    {
        std::array<double, store::commit_latency_bounds_us.size()> upper{};
        std::array<std::uint64_t, store::commit_latency_bounds_us.size()> cumulative{};
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < upper.size(); ++i) {
            upper[i] = store::commit_latency_bounds_us[i] / 1e6;
            seen += w.commit_latency[i];
            cumulative[i] = seen;
        }
        const std::uint64_t total = seen + w.commit_latency.back();
        m.family("msgflash_store_commit_seconds", "histogram",
                 "How long the queue's COMMITs (WAL fsync) took.");
        m.histogram("msgflash_store_commit_seconds", {}, upper, cumulative,
                    static_cast<double>(w.commit_latency_sum_us) / 1e6, total);
    }
    return m.text();
}

asio::awaitable<admin::admin_reply> daemon_admin::control(admin::route r) {
    using admin::route_kind;
    const timestamp now = wall_now();
    switch (r.kind) {
        case route_kind::batch_pause:
        case route_kind::batch_resume:
        case route_kind::batch_cancel: {
            store::store_result<store::batch_change_report> done = store::batch_change_report{};
            if (r.kind == route_kind::batch_pause) {
                auto op = submit(store_, store::pause_batch(r.subject, now));
                done = co_await std::move(op);
                engine_.drop_batch(r.subject);
            } else if (r.kind == route_kind::batch_resume) {
                auto op = submit(store_, store::resume_batch(r.subject, now));
                done = co_await std::move(op);
                engine_.forget_batch(r.subject);
            } else {
                auto op = submit(store_, store::cancel_batch(r.subject, now));
                done = co_await std::move(op);
                engine_.drop_batch(r.subject);
            }
            if (!done) {
                co_return store_failure(done.error());
            }
            log_->info("admin: batch {} now {} ({} job(s) changed)", r.subject, to_string(done->state),
                       done->jobs_changed);
            co_return ok_reply({{"state", to_string(done->state)}, {"jobs_changed", done->jobs_changed}});
        }
        case route_kind::batch_retry: {
            auto op = submit(store_, store::retry_batch(r.subject, now));
            store::store_result<std::uint64_t> n = co_await std::move(op);
            if (!n) {
                co_return store_failure(n.error());
            }
            log_->info("admin: batch {}: {} job(s) back in line", r.subject, *n);
            co_return ok_reply({{"jobs_changed", *n}});
        }
        case route_kind::retry_dead: {
            store::queue_reader* rd = reader();
            auto batches =
                rd ? rd->batches()
                   : store::store_result<std::vector<store::batch_info>>(
                         boost::system::in_place_error, store::make_store_error(store::store_errc::closed));
            if (!batches) {
                co_return store_failure(batches.error());
            }
            std::uint64_t changed = 0;
            std::uint64_t touched = 0;
            for (const store::batch_info& b : *batches) {
                if (b.counts.dead == 0 && b.counts.held == 0) {
                    continue;
                }
                auto op = submit(store_, store::retry_batch(b.id, now));
                store::store_result<std::uint64_t> n = co_await std::move(op);
                if (n && *n > 0) {
                    changed += *n;
                    ++touched;
                }
            }
            log_->info("admin: {} job(s) of {} batch(es) back in line", changed, touched);
            co_return ok_reply({{"jobs_changed", changed}, {"batches", touched}});
        }
        case route_kind::account_resume:
        case route_kind::instance_resume: {
            const bool account = r.kind == route_kind::account_resume;
            if (account ? config_.find_account(r.subject) == nullptr : false) {
                co_return admin::error_reply(404, "NOT_FOUND",
                                             "no account " + r.subject + " in the configuration");
            }
            auto op = submit(
                store_, store::release_hold(account ? hold_scope::key : hold_scope::number, r.subject, now));
            store::store_result<store::release_report> rel = co_await std::move(op);
            if (!rel) {
                co_return store_failure(rel.error());
            }
            if (account) {
                engine_.resume_account(r.subject);
            } else {
                engine_.resume_number(r.subject);
            }
            log_->info("admin: {} {} resumed ({} job(s) back in line)", account ? "account" : "number",
                       r.subject, rel->jobs_resumed);
            co_return ok_reply({{"was_held", rel->was_held}, {"jobs_resumed", rel->jobs_resumed}});
        }
        case route_kind::campaign_pause:
        case route_kind::campaign_resume: {
            // A campaign id does not say whose it is: each account's key is asked in turn, and the first that
            // does not answer 404 owns it. Each call waits for a slot of its key's pacer (one budget per
            // key).
            const bool pause = r.kind == route_kind::campaign_pause;
            for (const account_config& a : config_.accounts) {
                auto executor = co_await asio::this_coro::executor;
                const auto slot = std::make_shared<slot_wait>(executor);
                engine_.request_slot(a.name, [slot] {
                    slot->granted = true;
                    slot->timer.cancel();
                });
                if (!slot->granted) {
                    co_await slot->timer.async_wait(asio::as_tuple(asio::use_awaitable));
                }
                auto op = api_.campaign_action(a.name, r.subject, pause);
                api::api_result<api::campaign> answer = co_await std::move(op);
                if (answer.ok()) {
                    log_->info("admin: campaign {} of account {} {}", r.subject, a.name, answer->status);
                    co_return ok_reply({{"status", answer->status}, {"account", a.name}});
                }
                if (answer.http_status() == 404 || answer.failure().http_status == 404) {
                    continue;
                }
                const unsigned status = answer.failure().http_status;
                co_return admin::error_reply(status >= 400 && status < 500 ? 409 : 502,
                                             answer.api_code().empty() ? "UPSTREAM" : answer.api_code(),
                                             answer.failure().detail);
            }
            co_return admin::error_reply(404, "NOT_FOUND", "no account's key knows campaign " + r.subject);
        }
        case route_kind::reconcile: {
            // The deliveries not settled yet (the batch's, or all) are due now; the engine claims them at
            // once and checks them in its keys' spare capacity.
            auto op = submit(store_, store::make_deliveries_due{.batch = r.subject, .now = now});
            store::store_result<std::uint64_t> n = co_await std::move(op);
            if (!n) {
                co_return store_failure(n.error());
            }
            engine_.reconcile_now();
            log_->info("admin: reconcile {}: {} delivery check(s) due now",
                       r.subject.empty() ? std::string("every batch") : "batch " + r.subject, *n);
            co_return ok_reply({{"queued", *n}});
        }
        default:
            co_return admin::error_reply(404, "NOT_FOUND", "no such control call");
    }
}

admin_front::~admin_front() {
    if (thread_.joinable()) {
        asio::post(io_, [this] { server_->stop(); });
        thread_.join();
    }
}

bool admin_front::start(const listen_address& at, std::string token, std::string& error) {
    std::error_code ec;
    server_ = admin::admin_server::listen(io_.get_executor(), at, std::move(token), handlers(), ec);
    if (!server_) {
        error = fmt::format("cannot listen on {}: {}", at.to_string(), ec.message());
        return false;
    }
    asio::co_spawn(io_, server_->run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    return true;
}

std::string admin_front::address() const {
    return server_ ? server_->address() : std::string();
}

void admin_front::attach(asio::any_io_executor engine, daemon_admin* glue) {
    const std::lock_guard lock(mutex_);
    engine_ = std::move(engine);
    glue_ = glue;
}

void admin_front::detach() {
    const std::lock_guard lock(mutex_);
    engine_ = {};
    glue_ = nullptr;
}

admin::admin_handlers admin_front::handlers() {
    // Metrics and control run on the engine's thread (co_spawn there, resumed back here): the engine and the
    // store's reader are not shared between threads.
    return {.ready = [this] { return ready_.load(); },
            .metrics = [this]() -> asio::awaitable<std::string> {
                std::unique_lock lock(mutex_);
                daemon_admin* glue = glue_;
                asio::any_io_executor engine = engine_;
                lock.unlock();
                if (glue == nullptr) {
                    admin::metrics_text m;
                    basic_metrics(m, ready_);
                    co_return m.text();
                }
                const bool ready = ready_;
                auto op = asio::co_spawn(
                    engine,
                    [glue, ready]() -> asio::awaitable<std::string> { co_return glue->metrics(ready); },
                    asio::use_awaitable);
                std::string text = co_await std::move(op);
                co_return text;
            },
            .control = [this](admin::route r) -> asio::awaitable<admin::admin_reply> {
                std::unique_lock lock(mutex_);
                daemon_admin* glue = glue_;
                asio::any_io_executor engine = engine_;
                lock.unlock();
                if (glue == nullptr) {
                    co_return admin::error_reply(503, "STARTING", "msgflashd is starting: try again shortly");
                }
                auto op = asio::co_spawn(
                    engine, [glue, r = std::move(r)]() mutable { return glue->control(std::move(r)); },
                    asio::use_awaitable);
                admin::admin_reply reply = co_await std::move(op);
                co_return reply;
            }};
}

std::string load_or_create_admin_token(const std::filesystem::path& state_dir, std::string& error) {
    const std::filesystem::path p = state_dir / "admin.token";
    {
        std::ifstream in(p);
        std::string token;
        if (in && std::getline(in, token) && token.size() >= 32) {
            return token;
        }
    }
    std::random_device rd;
    std::string token;
    for (int i = 0; i < 32; ++i) {
        fmt::format_to(std::back_inserter(token), "{:02x}", static_cast<unsigned>(rd() & 0xff));
    }
    const std::filesystem::path tmp = state_dir / ".admin.token.tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        error = fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno));
        return {};
    }
    const std::string line = token + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                         ::fchmod(fd, 0640) == 0 && ::fsync(fd) == 0;
    ::close(fd);
    if (!written || ::rename(tmp.c_str(), p.c_str()) != 0) {
        error = fmt::format("cannot write {}: {}", p.string(), std::strerror(errno));
        return {};
    }
    return token;
}

bool write_admin_address(const std::filesystem::path& state_dir, const std::string& address,
                         std::string& error) {
    const std::filesystem::path p = state_dir / "admin.address";
    const std::filesystem::path tmp = state_dir / ".admin.address.tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << address << "\n";
        if (!out.flush()) {
            error = fmt::format("cannot write {}", tmp.string());
            return false;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, p, ec);
    if (ec) {
        error = fmt::format("cannot write {}: {}", p.string(), ec.message());
        return false;
    }
    return true;
}

}  // namespace msgflash::daemon
