#include "engine/dispatch_engine.hpp"

#include <algorithm>
#include <exception>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "engine/send_request_builder.hpp"
#include "spool/job_validation.hpp"

namespace msgflash::engine {

namespace asio = boost::asio;

namespace {

// Two seconds of sends at the key's rate stay claimed; never fewer than this many jobs.
constexpr double window_seconds = 2.0;
constexpr std::size_t min_window = 8;
// How long the scheduler sleeps with nothing scheduled; any event wakes it sooner.
constexpr std::chrono::hours idle_park{1};
// Batches whose message and numbers are kept in memory; past this the cache starts over (bounded memory).
constexpr std::size_t max_cached_batches = 4'096;
// A job whose numbers are all paused (caps of 0, critical, disconnected) is given back to wait this long, or
// until the next instance poll if sooner, before it is looked at again.
constexpr std::chrono::minutes paused_number_recheck{1};
// After a 502 PROVIDER_* the key's numbers are polled at once, but not more often than this.
constexpr std::chrono::seconds min_instances_repoll{2};

health_signals signals_of(const api::instance_health& h, timestamp now) {
    health_signals s;
    if (h.safety && *h.safety != api::safety_state::unknown) {
        static constexpr safety_level levels[] = {safety_level::healthy, safety_level::warning,
                                                  safety_level::at_risk, safety_level::critical};
        s.safety = levels[static_cast<std::size_t>(*h.safety)];
    }
    s.score = h.safety_score;
    if (h.warmup) {
        s.warmup = send_caps{.per_minute = h.warmup->max_per_minute,
                             .per_hour = h.warmup->max_per_hour,
                             .per_day = h.warmup->max_per_day,
                             .min_interval = h.warmup->min_interval};
    }
    if (h.usage) {
        s.usage = usage_report{.reported_at = now,
                               .last_minute = h.usage->last_minute,
                               .last_hour = h.usage->last_hour,
                               .last_24h = h.usage->last_24h};
    }
    return s;
}
// Holds the engine places on a batch (holds.cause): its first answers all failed with one code, or its
// template's preview was refused.
constexpr std::string_view batch_breaker_cause = "batch-failures";
constexpr std::string_view preview_refused_cause = "template-preview";
// The code recorded for a job whose batch names no WhatsApp number to send from.
constexpr std::string_view no_instance_code = "NO_INSTANCE";

std::shared_ptr<spdlog::logger> or_null_logger(std::shared_ptr<spdlog::logger> log) {
    if (log) {
        return log;
    }
    return std::make_shared<spdlog::logger>("engine", std::make_shared<spdlog::sinks::null_sink_mt>());
}

send_answer local_failure(std::string_view code) {
    send_answer a;
    a.v = verdict{.act = action::fail, .cause = hold_cause::none, .counts_attempt = true};
    a.api_code = std::string(code);
    return a;
}

}  // namespace

struct dispatch_engine::batch_entry {
    std::string id;  // the idempotency id: a batch hold's subject
    std::string message_json;
    std::vector<std::string> instance_ids;
    std::optional<window_schedule> window;
    bool is_template = false;
    // What the engine learnt of the batch while sending it.
    batch_probation probation;
    enum class preview_state { none, due, running } preview = preview_state::none;
    bool held = false;     // the engine held it: nothing more of it leaves
    bool dropped = false;  // the operator paused or cancelled it (drop_batch): nothing more of it leaves
};

struct dispatch_engine::pending_job {
    store::claimed_job job;
    std::shared_ptr<batch_entry> batch;
    std::string instance_id;
    timestamp sent_at{};     // when it left (its number's breaker matches answers to openings by it)
    pace_time claimed_at{};  // when it entered the window (engine_stats::pacer_wait)
    pace_time departure{};   // the departure its pacer recorded (corrected in send_one if it left later)
    // Its crash-left attempt was settled (not found, unresolved) before this send: recorded with its result.
    std::optional<store::earlier_settlement> settles{};
};

// An attempt waiting to be settled: an ambiguous answer, with the decision it got (retry, hold or dead) — or
// a crash-left attempt of a claimed job (`resume`), which is sent unless its message is found.
struct dispatch_engine::settle_entry {
    job_decision decision;
    std::optional<pending_job> resume{};
    settle_target target;
    pace_time due{};  // the next page may be read from then
    std::optional<std::string> cursor{};
    std::size_t pages = 0;

    std::int64_t job_id() const {
        return resume ? resume->job.id : std::get<store::job_result>(decision.change).attempt.job_id;
    }
    int attempt_n() const {
        return resume ? resume->job.unsettled->n : std::get<store::job_result>(decision.change).attempt.n;
    }
};

struct dispatch_engine::lane {
    lane(std::string name, msgflash::pacer p) : account(std::move(name)), pacer(std::move(p)) {}

    std::string account;
    msgflash::pacer pacer;
    std::size_t max_inflight = 1;
    std::size_t window_target = min_window;
    std::deque<pending_job> window;  // claimed (inflight in the store), not yet sent
    std::size_t inflight = 0;        // requests on the wire
    bool claiming = false;
    pace_time claim_after{};
    // A previous process may have used the key in the last window (a restart): nothing leaves before this.
    pace_time quiet_until{};
    // Sends leave evenly, one per span/rate, never in a burst of `rate`: a burst's requests reach the server
    // one after another (connections to open, one thread writing), so its last one arrives late and the
    // next burst, leaving on time, would land in the same window. The pacer's bound still caps every window.
    pace_duration spacing{};
    pace_time last_sent{};
    // When the scheduler last set the key's timer for its next send (engine_stats::lateness).
    std::optional<pace_time> send_slot{};
    // The instance monitor: the key's numbers seen in its claims, when their connection states are due
    // next, and when the key last had work (polls stop one interval after its work does).
    std::vector<std::string> numbers;
    pace_time next_instances_poll{};
    pace_time last_instances_poll{};
    bool instances_polling = false;
    // Nothing is sent before the first GET /instances has answered (or failed): only connected numbers
    // are sent to, from the first send on.
    bool instances_known = false;
    pace_time last_work{};
    bool had_work = false;
    bool held = false;  // the store holds the key: no claims until it lifts
    bool dirty = false;
    // Requests others make with the key (the operator's campaign calls): each waits for a slot.
    std::deque<std::function<void()>> slot_waiters;
    // Reconciliation: delivery checks claimed (leased in the store), looked at one read at a time; a list
    // walk over them first when many are due (walked: it was done for these); ambiguous answers to settle, in
    // order, one page at a time.
    std::deque<store::delivery_check> checks;
    bool claiming_checks = false;
    pace_time next_check_claim{};
    bool checking = false;
    bool walked = false;
    std::optional<std::string> walk_cursor;
    std::size_t walk_pages = 0;
    std::deque<settle_entry> settles;
    bool settling = false;
};

dispatch_engine::dispatch_engine(engine_options options, queue_port& queue, send_port& api, time_port& time)
    : options_(std::move(options)),
      queue_(queue),
      api_(api),
      time_(time),
      log_(or_null_logger(options_.log)),
      recipient_gap_(options_.per_recipient_gap),
      rng_(options_.seed) {
    for (const auto& [id, caps] : options_.number_caps) {
        number(id).caps = caps;
    }
    for (const auto& [id, counts] : options_.number_counts) {
        number(id).counts = counts;
    }
    for (const account_options& a : options_.accounts) {
        pacer_options po = options_.pacer;
        po.rate = a.rate;
        auto l = std::make_unique<lane>(a.name, msgflash::pacer(po));
        l->spacing = l->pacer.span() / std::max<std::uint32_t>(a.rate, 1);
        const std::size_t per_second = std::max<std::uint32_t>(a.rate, 1);
        l->max_inflight = options_.max_inflight_per_key != 0 ? options_.max_inflight_per_key : per_second;
        l->window_target = options_.window_per_key != 0
                               ? options_.window_per_key
                               : std::max(min_window, static_cast<std::size_t>(a.rate * window_seconds));
        lanes_.push_back(std::move(l));
    }
}

dispatch_engine::~dispatch_engine() = default;

double dispatch_engine::current_rate(std::string_view account) const {
    for (const auto& l : lanes_) {
        if (l->account == account) {
            return l->pacer.current_rate(time_.steady_now());
        }
    }
    return 0;
}

double dispatch_engine::draw() {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void dispatch_engine::mark(std::size_t li) {
    lane& l = *lanes_[li];
    if (!l.dirty) {
        l.dirty = true;
        dirty_.push_back(li);
    }
    time_.wake();
}

void dispatch_engine::resume_account(std::string_view account) {
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        lane& l = *lanes_[li];
        if (l.account == account && l.held) {
            l.held = false;
            l.claim_after = time_.steady_now();
            log_->info("engine: account {}: dispatching again", l.account);
            mark(li);
        }
    }
}

void dispatch_engine::forget_batch(std::string_view id) {
    std::erase_if(batches_, [&](const auto& kv) { return kv.second->id == id; });
}

void dispatch_engine::drop_batch(std::string_view id) {
    const timestamp now = time_.now();
    for (auto& [rowid, b] : batches_) {
        b->dropped = b->dropped || b->id == id;  // its jobs still settling go back once they are settled
    }
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        give_back(lanes_[li]->window, now, [&](const pending_job& j) { return j.batch->id == id; });
        mark(li);
    }
    forget_batch(id);
}

void dispatch_engine::resume_number(std::string_view id) {
    auto it = numbers_.find(std::string(id));
    if (it == numbers_.end()) {
        return;
    }
    it->second.held = false;
    it->second.breaker = number_breaker(options_.number_breaker);
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        lanes_[li]->claim_after = time_.steady_now();
        mark(li);
    }
}

void dispatch_engine::reconcile_now() {
    const pace_time pnow = time_.steady_now();
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        lanes_[li]->next_check_claim = pnow;
        mark(li);
    }
}

void dispatch_engine::stop() {
    stop_requested_ = true;
    time_.wake();
}

void dispatch_engine::spawn(asio::awaitable<void> task) {
    ++tasks_;
    asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log_->error("engine task failed: {}", x.what());
            }
        }
        --tasks_;
        time_.wake();
    });
}

asio::awaitable<void> dispatch_engine::run() {
    executor_ = co_await asio::this_coro::executor;
    const pace_time start = time_.steady_now();
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        // The keys' first sends spread over one spacing rather than all at the same instant: a thousand
        // keys starting together put a thousand requests (and connection opens) on the wire at once, and
        // the last of them arrive late enough behind their pacer slots to crowd the next window (429s).
        const pace_duration stagger =
            lanes_[i]->spacing * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(lanes_.size());
        lanes_[i]->quiet_until = start + lanes_[i]->pacer.span() + stagger;
        mark(i);
    }
    log_->info("engine: dispatching for {} account(s)", lanes_.size());
    for (;;) {
        const timestamp now = time_.now();
        const pace_time pnow = time_.steady_now();
        if (stop_requested_ && !stopping_) {
            begin_stop(now, pnow);
        }
        if (stopping_) {
            if (tasks_ == 0) {
                break;
            }
            if (!cancelled_ && inflight_ > 0 && pnow >= grace_deadline_) {
                cancelled_ = true;
                log_->warn("engine: shutdown grace over, cancelling {} request(s) still in flight",
                           inflight_);
                api_.cancel_all();
            }
            const bool waiting_for_grace = !cancelled_ && inflight_ > 0;
            co_await time_.sleep_until(waiting_for_grace ? grace_deadline_ : pnow + idle_park);
            continue;
        }
        std::vector<std::size_t> dirty;
        dirty.swap(dirty_);
        for (std::size_t li : dirty) {
            lanes_[li]->dirty = false;
            service(li, pnow);
        }
        while (const std::optional<std::size_t> li = timeline_.pop_due(pnow)) {
            service(*li, pnow);
        }
        if (!dirty_.empty()) {
            continue;
        }
        const std::optional<pace_time> next = timeline_.earliest();
        co_await time_.sleep_until(next ? *next : pnow + idle_park);
    }
    log_->info("engine: stopped ({} sent, {} unclaimed, {} store errors)", stats_.sent, stats_.unclaimed,
               stats_.store_errors);
}

void dispatch_engine::service(std::size_t li, pace_time pnow) {
    if (stopping_) {
        return;
    }
    lane& l = *lanes_[li];
    const std::size_t low_water = l.window_target / 2;
    if (!l.claiming && l.window.size() <= low_water && pnow >= l.claim_after) {
        l.claiming = true;
        spawn(claim(li, l.window_target - l.window.size()));
    }
    std::optional<pace_time> numbers_free;  // set when the key could send but no job's number may yet
    std::optional<pace_time> poll_next;
    if (pnow >= l.quiet_until) {
        poll_next = grant_slot(li, pnow);
    }
    const auto earlier = [](std::optional<pace_time> a, std::optional<pace_time> b) {
        return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
    };
    if (pnow >= l.quiet_until) {
        poll_next = earlier(poll_next, settle_due(li, pnow));  // before the sends: it may spare one
    }
    if (!l.held && pnow >= l.quiet_until) {
        const std::optional<pace_time> polls = poll_due(li, pnow);
        poll_next = poll_next && polls ? std::min(*poll_next, *polls) : poll_next ? poll_next : polls;
        numbers_free = send_ready(li, time_.now(), pnow);
    }
    if (pnow >= l.quiet_until) {
        // After the sends: delivery checks only take what they left.
        poll_next = earlier(poll_next, reconcile_due(li, pnow));
    }
    std::optional<pace_time> next;
    if (!l.held && !l.window.empty() && l.inflight < l.max_inflight) {
        next = std::max({l.quiet_until, l.last_sent + l.spacing,
                         l.pacer.next_allowed(pnow, request_class::send), numbers_free.value_or(pnow)});
    }
    l.send_slot = next;
    if (!l.claiming && l.window.size() <= low_water) {
        next = next ? std::min(*next, l.claim_after) : l.claim_after;
    }
    if (poll_next) {
        next = next ? std::min(*next, *poll_next) : *poll_next;
    }
    if (next) {
        timeline_.schedule(li, *next);
    } else {
        timeline_.unschedule(li);
    }
}

void dispatch_engine::begin_stop(timestamp now, pace_time pnow) {
    stopping_ = true;
    grace_deadline_ = pnow + options_.shutdown_grace;
    std::size_t unsent = 0;
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        timeline_.unschedule(li);
        unsent += lanes_[li]->window.size();
        give_back(lanes_[li]->window, now);
        for (auto& granted : std::exchange(lanes_[li]->slot_waiters, {})) {
            granted();  // no more pacing: their requests go, or fail as the client shuts down
        }
        // Ambiguous answers still to settle keep their decision, unresolved; jobs whose crash-left attempt
        // was still to settle go back unsent (the one whose page is on the wire ends when it is answered).
        std::deque<settle_entry>& settles = lanes_[li]->settles;
        const std::size_t keep = lanes_[li]->settling ? 1 : 0;
        while (settles.size() > keep) {
            settle_entry e = std::move(settles.back());
            settles.pop_back();
            unsent += e.resume ? 1 : 0;  // given back by finish_settle
            finish_settle(li, std::move(e), settle_outcome::unresolved, nullptr);
        }
    }
    log_->info("engine: stopping; {} claimed job(s) given back, {} request(s) in flight (grace {} ms)",
               unsent, inflight_, options_.shutdown_grace.count());
}

void dispatch_engine::give_back(std::deque<pending_job>& jobs, timestamp now,
                                const std::function<bool(const pending_job&)>& which) {
    std::deque<pending_job> kept;
    for (pending_job& p : jobs) {
        if (which && !which(p)) {
            kept.push_back(std::move(p));
            continue;
        }
        spawn(unclaim(store::unclaim_request{.job_id = p.job.id,
                                             .attempt = p.job.attempt,
                                             .new_state = job_state::ready,
                                             .next_attempt_at = std::nullopt,
                                             .now = now}));
    }
    jobs.swap(kept);
}

std::optional<pace_time> dispatch_engine::send_ready(std::size_t li, timestamp now, pace_time pnow) {
    lane& l = *lanes_[li];
    // Jobs that no number of theirs may send soon wait in the queue, not in the window (which would fill
    // with them and starve the numbers that can send). No attempt is consumed.
    if (!l.instances_known) {
        return pnow + options_.number_wait_in_window;  // the first poll's answer marks the lane
    }
    std::deque<pending_job> kept;
    for (pending_job& p : l.window) {
        const number_choice c = choose_number(p, now);
        if (c.at <= now + options_.number_wait_in_window) {
            kept.push_back(std::move(p));
            continue;
        }
        l.last_work = pnow;
        if (const std::string* down = disconnected_number(p)) {
            number_state& n = number(*down);
            n.disconnect_held = true;
            spawn(unclaim(store::unclaim_request{
                .job_id = p.job.id,
                .attempt = p.job.attempt,
                .new_state = job_state::held,
                .next_attempt_at = std::nullopt,
                .now = now,
                .hold = store::hold_target{.scope = hold_scope::number,
                                           .subject = *down,
                                           .cause = std::string(number_disconnected_cause),
                                           .reason_code = n.status.empty() ? "disconnected" : n.status,
                                           .until = std::nullopt}}));
            continue;
        }
        const timestamp at = c.at == timestamp::max()
                                 ? now + std::min<std::chrono::milliseconds>(paused_number_recheck,
                                                                             options_.instance_poll_interval)
                                 : c.at;
        spawn(unclaim(store::unclaim_request{.job_id = p.job.id,
                                             .attempt = p.job.attempt,
                                             .new_state = job_state::waiting,
                                             .next_attempt_at = at,
                                             .now = now}));
    }
    l.window.swap(kept);

    while (!l.window.empty() && l.inflight < l.max_inflight && pnow >= l.last_sent + l.spacing &&
           l.pacer.may_send(pnow, request_class::send)) {
        // The first job in line that a number may send now; priority and fairness are the window's order.
        auto chosen = l.window.end();
        number_choice choice{{}, timestamp::max()};
        timestamp earliest = timestamp::max();
        for (auto it = l.window.begin(); it != l.window.end(); ++it) {
            const batch_entry& b = *it->batch;
            if (b.held || b.preview == batch_entry::preview_state::running) {
                continue;  // given back by hold_batch, or waiting for the preview's answer (which marks us)
            }
            number_choice c = choose_number(*it, now);
            if (c.at <= now) {
                chosen = it;
                choice = std::move(c);
                break;
            }
            earliest = std::min(earliest, c.at);
        }
        if (chosen == l.window.end()) {
            return earliest == timestamp::max() ? pnow + options_.number_wait_in_window
                                                : pnow + (earliest - now);
        }
        const pace_time departure = l.pacer.on_sent(pnow, request_class::send);
        l.last_sent = pnow;
        ++l.inflight;
        ++inflight_;
        ++stats_.requests;
        if (chosen->batch->preview == batch_entry::preview_state::due) {
            // The batch's first send: its template is previewed with this job's variables instead; the job
            // stays in line.
            built_request built = build_send_request(chosen->batch->message_json, chosen->job.payload_json,
                                                     choice.number, chosen->job.to);
            if (auto* first = std::get_if<api::send_request>(&built)) {
                chosen->batch->preview = batch_entry::preview_state::running;
                ++stats_.previews;
                spawn(preview(li, chosen->batch, std::move(*first), departure));
                continue;
            }
            chosen->batch->preview = batch_entry::preview_state::none;  // send_one records why it cannot go
        }
        pending_job p = std::move(*chosen);
        l.window.erase(chosen);
        p.instance_id = std::move(choice.number);
        p.departure = departure;
        if (!p.instance_id.empty()) {
            note_number_send(p.instance_id, p.job.to, now);
            number(p.instance_id).breaker.on_sent(now);
            p.sent_at = now;
        }
        spawn(send_one(li, std::move(p), std::exchange(l.send_slot, std::nullopt)));
    }
    return std::nullopt;
}

dispatch_engine::number_choice dispatch_engine::choose_number(const pending_job& p, timestamp now) const {
    if (!p.instance_id.empty()) {
        return {p.instance_id, number_gate(p.instance_id, p.job.to, now)};
    }
    const std::vector<std::string>& ids = p.batch->instance_ids;
    if (ids.empty()) {
        return {{}, now};  // send_one records that the batch names no number
    }
    // A number that may send now beats one that may send later; among those, the least loaded today.
    const std::string* best = nullptr;
    timestamp best_at = timestamp::max();
    std::uint64_t best_load = 0;
    for (const std::string& id : ids) {
        const timestamp at = std::max(number_gate(id, p.job.to, now), now);
        std::uint64_t load = 0;
        if (auto it = numbers_.find(id);
            it != numbers_.end() && std::chrono::floor<std::chrono::days>(it->second.counts.at) ==
                                        std::chrono::floor<std::chrono::days>(now)) {
            load = it->second.counts.day;
        }
        if (best == nullptr || at < best_at || (at == best_at && load < best_load)) {
            best = &id;
            best_at = at;
            best_load = load;
        }
    }
    return {*best, best_at};
}

timestamp dispatch_engine::number_gate(const std::string& number, const std::string& to,
                                       timestamp now) const {
    timestamp at = now;
    if (auto it = numbers_.find(number); it != numbers_.end()) {
        const number_state& n = it->second;
        if (n.held || !n.connected) {
            return timestamp::max();
        }
        const timestamp breaker = n.breaker.next_allowed(now);
        const send_gate g = next_send_time(n.model.caps(n.caps, now), n.counts, n.reported, n.last_send, now);
        if (g.paused()) {
            return timestamp::max();
        }
        at = std::max(*g.at, breaker);
    }
    return std::max(at, recipient_gap_.next_allowed(number, to, now));
}

const std::string* dispatch_engine::disconnected_number(const pending_job& p) const {
    const auto down = [&](const std::string& id) {
        const auto it = numbers_.find(id);
        return it != numbers_.end() && !it->second.connected;
    };
    if (!p.instance_id.empty()) {
        return down(p.instance_id) ? &p.instance_id : nullptr;
    }
    const std::vector<std::string>& ids = p.batch->instance_ids;
    if (ids.empty() || !std::all_of(ids.begin(), ids.end(), down)) {
        return nullptr;
    }
    return &ids.front();
}

dispatch_engine::number_state& dispatch_engine::number(const std::string& id) {
    auto it = numbers_.find(id);
    if (it == numbers_.end()) {
        number_state n;
        n.model = number_caps(options_.hysteresis);
        n.breaker = number_breaker(options_.number_breaker);
        it = numbers_.emplace(id, std::move(n)).first;
    }
    return it->second;
}

void dispatch_engine::note_work(lane& l, const std::vector<std::string>& numbers, pace_time pnow) {
    l.had_work = true;
    l.last_work = pnow;
    for (const std::string& id : numbers) {
        number(id);
        if (std::find(l.numbers.begin(), l.numbers.end(), id) == l.numbers.end()) {
            l.numbers.push_back(id);
        }
    }
}

void dispatch_engine::request_slot(std::string_view account, std::function<void()> granted) {
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
        if (lanes_[li]->account == account) {
            if (stopping_) {
                granted();
                return;
            }
            lanes_[li]->slot_waiters.push_back(std::move(granted));
            mark(li);
            return;
        }
    }
    granted();  // not one of ours: nothing to pace it against (the caller's request will say so)
}

pace_time dispatch_engine::departed(lane& l, pace_time departure) {
    const pace_time now = time_.steady_now();
    l.pacer.on_left(departure, now);
    if (l.last_sent >= departure) {
        l.last_sent = std::max(l.last_sent, now);  // the even spacing counts from the real departure too
    }
    return now;
}

std::optional<pace_time> dispatch_engine::grant_slot(std::size_t li, pace_time pnow) {
    lane& l = *lanes_[li];
    if (l.slot_waiters.empty()) {
        return std::nullopt;
    }
    if (pnow < l.last_sent + l.spacing || !l.pacer.may_send(pnow, request_class::send)) {
        return std::max(l.last_sent + l.spacing, l.pacer.next_allowed(pnow, request_class::send));
    }
    l.pacer.on_sent(pnow, request_class::housekeeping);
    l.last_sent = pnow;
    std::function<void()> granted = std::move(l.slot_waiters.front());
    l.slot_waiters.pop_front();
    granted();
    return l.slot_waiters.empty() ? std::nullopt : std::optional(l.last_sent + l.spacing);
}

std::optional<pace_time> dispatch_engine::poll_due(std::size_t li, pace_time pnow) {
    lane& l = *lanes_[li];
    const bool holds_numbers = std::any_of(l.numbers.begin(), l.numbers.end(), [&](const std::string& id) {
        return numbers_.at(id).disconnect_held;
    });
    if (!holds_numbers && (!l.had_work || pnow - l.last_work > options_.instance_poll_interval)) {
        return std::nullopt;  // no work (and no number whose jobs wait for it to come back): no polls
    }
    // The first poll due: the key's instances, then the health of each of its numbers in turn.
    std::optional<pace_time> due;
    const std::string* health_of = nullptr;
    if (!l.instances_polling) {
        due = l.next_instances_poll;
    }
    for (const std::string& id : l.numbers) {
        const number_state& n = numbers_.at(id);
        if (!n.health_polling && n.connected && (!due || n.next_health < *due)) {
            due = n.next_health;
            health_of = &id;
        }
    }
    if (!due) {
        return std::nullopt;
    }
    if (*due > pnow) {
        return due;
    }
    // A poll is one of the key's requests: it takes the next send slot (polls come at most once a minute
    // per key and once every few minutes per number, a small share of the key's rate).
    if (l.inflight >= l.max_inflight || pnow < l.last_sent + l.spacing ||
        !l.pacer.may_send(pnow, request_class::send)) {
        return std::max(l.last_sent + l.spacing, l.pacer.next_allowed(pnow, request_class::send));
    }
    const pace_time departure = l.pacer.on_sent(pnow, request_class::housekeeping);
    l.last_sent = pnow;
    ++stats_.polls;
    if (health_of != nullptr) {
        number(*health_of).health_polling = true;
        spawn(poll_health(li, *health_of, departure));
    } else {
        l.instances_polling = true;
        l.last_instances_poll = pnow;
        spawn(poll_instances(li, departure));
    }
    return l.last_sent + l.spacing;
}

asio::awaitable<void> dispatch_engine::poll_instances(std::size_t li, pace_time departure) {
    lane& l = *lanes_[li];
    departed(l, departure);
    auto op = api_.list_instances(l.account);
    api::api_result<std::vector<api::instance>> r = co_await std::move(op);
    l.instances_polling = false;
    l.instances_known = true;
    const pace_time pnow = time_.steady_now();
    l.next_instances_poll = pnow + options_.instance_poll_interval;
    if (!r) {
        log_->warn("engine: account {}: GET /instances: {}", l.account, r.failure().detail);
        if (r.verdict().act == action::rate_limited) {
            l.pacer.on_rate_limited(pnow, l.last_instances_poll, r.failure().retry_after);
        }
        mark(li);
        co_return;
    }
    for (const api::instance& i : r.value()) {
        number_state& n = number(i.id);
        const bool was = n.connected;
        n.connected = i.connected();
        n.status = i.status;
        if (was && !n.connected) {
            log_->warn("engine: number {} is {}: its jobs are held until it is connected", i.id, i.status);
        } else if (!was && n.connected) {
            log_->info("engine: number {} is connected again", i.id);
        }
        if (n.connected && n.disconnect_held) {
            n.disconnect_held = false;
            spawn(release_number(li, i.id));
        }
    }
    mark(li);
}

asio::awaitable<void> dispatch_engine::poll_health(std::size_t li, std::string id, pace_time departure) {
    lane& l = *lanes_[li];
    const pace_time left = departed(l, departure);
    auto op = api_.instance_health(l.account, id);
    api::api_result<api::instance_health> r = co_await std::move(op);
    number_state& n = number(id);
    n.health_polling = false;
    const pace_time pnow = time_.steady_now();
    n.next_health = pnow + options_.health_poll_interval;
    if (!r) {
        log_->warn("engine: number {}: GET /instances/{{id}}/health: {}", id, r.failure().detail);
        if (r.verdict().act == action::rate_limited) {
            l.pacer.on_rate_limited(pnow, left, r.failure().retry_after);
        }
        mark(li);
        co_return;
    }
    const timestamp now = time_.now();
    const std::size_t before = n.model.step(now);
    const health_signals s = signals_of(r.value(), now);
    n.model.observe(s, now);
    n.reported = s.usage;
    const std::size_t after = n.model.step(now);
    if (after > before) {
        log_->warn("engine: number {}: safetyState {} (score {}): sending at {:.0f}% of its caps", id,
                   r->safety_text, r->safety_score.value_or(-1), pace_steps[after] * 100);
    } else if (after < before) {
        log_->info("engine: number {}: clean for a while, sending at {:.0f}% of its caps", id,
                   pace_steps[after] * 100);
    }
    mark(li);
}

template <class T>
void dispatch_engine::note_read_answer(lane& l, const api::api_result<T>& r, pace_time left) {
    if (!r.ok() && r.verdict().act == action::rate_limited) {
        const pace_time pnow = time_.steady_now();
        l.pacer.on_rate_limited(pnow, left, r.failure().retry_after);
        log_->warn("engine: account {}: 429 {} on a reconciliation read, pace now {:.2f} req/s", l.account,
                   r.api_code(), l.pacer.current_rate(pnow));
    }
}

std::optional<pace_time> dispatch_engine::settle_due(std::size_t li, pace_time pnow) {
    lane& l = *lanes_[li];
    if (l.settles.empty() || l.settling) {
        return std::nullopt;
    }
    if (l.held) {
        // Nothing can be asked with a held key: the decisions stand, unresolved.
        while (!l.settles.empty()) {
            settle_entry e = std::move(l.settles.front());
            l.settles.pop_front();
            finish_settle(li, std::move(e), settle_outcome::unresolved, nullptr);
        }
        return std::nullopt;
    }
    if (l.settles.front().due > pnow) {
        return l.settles.front().due;
    }
    // The next send slot, before the sends (as the instance polls): the job waits inflight meanwhile, and
    // the page takes the place of the retry it may spare.
    if (l.inflight >= l.max_inflight) {
        return std::nullopt;  // an answer marks the lane
    }
    if (pnow < l.last_sent + l.spacing || !l.pacer.may_send(pnow, request_class::send)) {
        return std::max(l.last_sent + l.spacing, l.pacer.next_allowed(pnow, request_class::send));
    }
    const pace_time departure = l.pacer.on_sent(pnow, request_class::housekeeping);
    l.last_sent = pnow;
    ++inflight_;
    l.settling = true;
    ++stats_.settle_pages;
    spawn(settle_page(li, departure));
    return std::nullopt;
}

std::optional<pace_time> dispatch_engine::reconcile_due(std::size_t li, pace_time pnow) {
    lane& l = *lanes_[li];
    std::optional<pace_time> next;
    const auto sooner = [&](pace_time t) { next = next ? std::min(*next, t) : t; };
    // Requests of one key on the wire are bounded; a full lane is marked again by an answer.
    const bool wire_free = l.inflight < l.max_inflight;
    const pace_time spaced = l.last_sent + l.spacing;

    if (l.held || stopping_) {
        return next;
    }
    // Delivery checks.
    const timestamp now = time_.now();
    while (!l.checking && !l.checks.empty() && past_max_age(l.checks.front(), now, options_.reconcile)) {
        spawn(record_check(delivery_unanswered(l.checks.front(), now, options_.reconcile, false)));
        l.checks.pop_front();
    }
    if (l.checks.empty()) {
        if (!l.checking && !l.claiming_checks) {
            if (pnow >= l.next_check_claim) {
                l.claiming_checks = true;
                spawn(claim_checks(li));
            } else {
                sooner(l.next_check_claim);
            }
        }
        return next;
    }
    if (l.checking || !wire_free) {
        return next;  // its answer marks the lane
    }
    const pace_time at = l.pacer.next_allowed(pnow, request_class::housekeeping);
    if (at == pace_time::max()) {
        return next;  // housekeeping has no share
    }
    if (at > pnow || pnow < spaced) {
        sooner(std::max(at, spaced));
        return next;
    }
    // A delivery read does not move the even spacing (the next send may leave beside it: the pacer's log,
    // which the read entered with half its span free, bounds every window), so it never delays a send.
    const pace_time departure = l.pacer.on_sent(pnow, request_class::housekeeping);
    ++inflight_;
    l.checking = true;
    if (!l.walked && l.checks.size() >= options_.list_walk_min_checks) {
        ++stats_.delivery_pages;
        spawn(walk_deliveries(li, departure));
    } else {
        store::delivery_check c = std::move(l.checks.front());
        l.checks.pop_front();
        ++stats_.delivery_reads;
        spawn(check_delivery(li, std::move(c), departure));
    }
    return next;
}

asio::awaitable<void> dispatch_engine::claim_checks(std::size_t li) {
    lane& l = *lanes_[li];
    const timestamp now = time_.now();
    auto op =
        queue_.claim_deliveries(l.account, now, options_.delivery_claim_limit, now + options_.delivery_lease);
    store::store_result<std::vector<store::delivery_check>> r = co_await std::move(op);
    l.claiming_checks = false;
    const pace_time pnow = time_.steady_now();
    if (!r) {
        ++stats_.store_errors;
        log_->error("engine: account {}: delivery checks not claimed: {}", l.account, r.error().message());
        l.next_check_claim = pnow + options_.delivery_idle_claim_interval;
        mark(li);
        co_return;
    }
    // A full claim may have left more due: ask again as soon as these are done.
    l.next_check_claim =
        r->size() < options_.delivery_claim_limit ? pnow + options_.delivery_idle_claim_interval : pnow;
    l.walked = false;
    for (store::delivery_check& c : *r) {
        l.checks.push_back(std::move(c));
    }
    mark(li);
}

asio::awaitable<void> dispatch_engine::check_delivery(std::size_t li, store::delivery_check c,
                                                      pace_time departure) {
    lane& l = *lanes_[li];
    const pace_time left = departed(l, departure);
    // A campaign's id is no message's: its recipients' states come from its stats.
    const auto read = [&]<class T>(api::api_result<T>& r, auto decide) {
        l.checking = false;
        --inflight_;
        note_read_answer(l, r, left);
        const timestamp now = time_.now();
        if (!r.ok()) {
            log_->debug("engine: job {}: reading {} {}: {}", c.job_id, c.campaign ? "campaign" : "message",
                        c.message_id, r.failure().detail);
            return delivery_unanswered(c, now, options_.reconcile, r.api_code() == "NOT_FOUND");
        }
        return decide(c, r.value(), now, options_.reconcile);
    };
    store::delivery_update u;
    if (c.campaign) {
        auto op = api_.campaign_stats(l.account, c.message_id);
        api::api_result<api::campaign_stats> r = co_await std::move(op);
        u = read(r, delivery_from_campaign);
    } else {
        auto op = api_.get_message(l.account, c.message_id);
        api::api_result<api::message_details> r = co_await std::move(op);
        u = read(r, delivery_from_message);
    }
    mark(li);
    auto rec = record_check(std::move(u));
    co_await std::move(rec);
}

asio::awaitable<void> dispatch_engine::walk_deliveries(std::size_t li, pace_time departure) {
    lane& l = *lanes_[li];
    const pace_time left = departed(l, departure);
    api::message_query q;
    q.limit = options_.settle.page_limit;
    q.cursor = l.walk_cursor;
    auto op = api_.list_messages(l.account, std::move(q));
    api::api_result<api::message_page> r = co_await std::move(op);
    l.checking = false;
    --inflight_;
    note_read_answer(l, r, left);
    ++l.walk_pages;
    bool done = true;
    if (r.ok()) {
        const timestamp now = time_.now();
        timestamp oldest = timestamp::max();
        for (const store::delivery_check& c : l.checks) {
            oldest = std::min(oldest, c.sent_at);
        }
        bool older = false;  // the page reached messages sent before every check's: no later page helps
        for (const api::message_details& m : r->messages) {
            const auto it =
                std::find_if(l.checks.begin(), l.checks.end(),
                             [&](const store::delivery_check& c) { return c.message_id == m.id; });
            if (it != l.checks.end()) {
                spawn(record_check(delivery_from_message(*it, m, now, options_.reconcile)));
                l.checks.erase(it);
            }
            if (m.created_at) {
                const std::optional<timestamp> created = spool::parse_iso8601(*m.created_at);
                older = older || (created && *created < oldest - options_.settle.clock_margin);
            }
        }
        done = l.checks.empty() || !r->has_more || older || l.walk_pages >= options_.list_walk_max_pages;
        l.walk_cursor = r->next_cursor;
    }
    if (done) {
        // What the pages did not hold is asked for one by one.
        l.walked = true;
        l.walk_cursor.reset();
        l.walk_pages = 0;
    }
    mark(li);
}

asio::awaitable<void> dispatch_engine::record_check(store::delivery_update u) {
    const std::int64_t job = u.job_id;
    ++stats_.delivery_checks;
    if (!u.settled.empty()) {
        ++stats_.deliveries_settled[u.settled];
    }
    auto op = queue_.record_delivery(std::move(u));
    store::store_result<void> r = co_await std::move(op);
    if (!r) {
        ++stats_.store_errors;
        log_->error("engine: job {}: delivery status not recorded: {}", job, r.error().message());
    }
}

asio::awaitable<void> dispatch_engine::settle_page(std::size_t li, pace_time departure) {
    lane& l = *lanes_[li];
    const pace_time left = departed(l, departure);
    api::message_query q;
    {
        const settle_entry& e = l.settles.front();
        q.limit = options_.settle.page_limit;
        q.cursor = e.cursor;
        if (!e.target.instance_id.empty()) {
            q.instance_id = e.target.instance_id;
        }
    }
    auto op = api_.list_messages(l.account, std::move(q));
    api::api_result<api::message_page> r = co_await std::move(op);
    l.settling = false;
    --inflight_;
    note_read_answer(l, r, left);
    settle_entry& e = l.settles.front();
    ++e.pages;
    std::optional<settle_outcome> outcome;
    std::optional<api::message_details> found;
    if (r.ok()) {
        page_scan scan = scan_page(r.value(), e.target, options_.settle);
        if (scan.found) {
            outcome = settle_outcome::found;
            found = std::move(scan.found);
        } else if (scan.exhausted) {
            outcome = settle_outcome::not_found;
        } else {
            e.cursor = r->next_cursor;
        }
    } else {
        log_->warn("engine: account {}: GET /messages (settling job {}): {}", l.account, e.job_id(),
                   r.failure().detail);
    }
    if (!outcome && (e.pages >= options_.settle.max_pages || stopping_)) {
        outcome = settle_outcome::unresolved;
    }
    if (outcome) {
        settle_entry done = std::move(l.settles.front());
        l.settles.pop_front();
        finish_settle(li, std::move(done), *outcome, found ? &*found : nullptr);
    } else {
        e.due = time_.steady_now();  // the next page in the next slot
    }
    mark(li);
}

void dispatch_engine::finish_settle(std::size_t li, settle_entry e, settle_outcome outcome,
                                    const api::message_details* found) {
    lane& l = *lanes_[li];
    const bool sent = outcome == settle_outcome::found && found != nullptr;
    if (e.resume && !sent && (stopping_ || l.held || e.resume->batch->held || e.resume->batch->dropped)) {
        // A crash-left attempt not settled (or settled as nothing sent) whose job cannot be sent now: back in
        // line unsent, the attempt still unsettled — the next claim asks again, nothing is recorded.
        log_->info("engine: job {}: given back before its ambiguous attempt {} was settled", e.job_id(),
                   e.attempt_n());
        std::deque<pending_job> back;
        back.push_back(std::move(*e.resume));
        give_back(back, time_.now());
        return;
    }
    if (sent && e.resume) {
        e.decision.change = sent_by_earlier(e.resume->job, *found, time_.now());
        if (found->instance_id && !found->instance_id->empty()) {
            // The send happened before the crash and was never counted here: the number's caps and the
            // recipient gap count it now.
            note_number_send(*found->instance_id, e.resume->job.to, time_.now());
        }
    } else if (!e.resume) {
        settle(std::get<store::job_result>(e.decision.change), outcome, found);
    }
    // What happens next: the decision stands (or the job is sent with the message found); a crash-left
    // attempt not found, or not settled, lets its job's claim send.
    const std::string_view next = sent ? std::string_view("sent")
                                  : e.resume
                                      ? std::string_view("sending it")
                                      : to_string(std::get<store::job_result>(e.decision.change).new_state);
    switch (outcome) {
        case settle_outcome::found:
            ++stats_.settled_found;
            log_->info("engine: job {}: its ambiguous attempt {} did send message {}: no second request",
                       e.job_id(), e.attempt_n(), found->id);
            break;
        case settle_outcome::not_found:
            ++stats_.settled_not_found;
            log_->info("engine: job {}: its ambiguous attempt {} sent nothing: {}", e.job_id(), e.attempt_n(),
                       next);
            break;
        default:
            ++stats_.settle_unresolved;
            log_->warn("engine: job {}: its ambiguous attempt {} could not be settled: {}", e.job_id(),
                       e.attempt_n(), next);
            break;
    }
    if (sent || !e.resume) {
        spawn(apply(std::move(e.decision)));
        return;
    }
    pending_job p = std::move(*e.resume);
    p.settles = store::earlier_settlement{.n = p.job.unsettled->n, .outcome = outcome};
    l.window.push_front(std::move(p));  // claimed before what is in line now
    mark(li);
}

void dispatch_engine::note_number_send(const std::string& number, const std::string& to, timestamp now) {
    number_state& n = this->number(number);
    count_send(n.counts, now);
    n.last_send = now;
    recipient_gap_.on_sent(number, to, now);
}

asio::awaitable<std::shared_ptr<dispatch_engine::batch_entry>> dispatch_engine::batch_for(
    std::int64_t rowid) {
    if (auto it = batches_.find(rowid); it != batches_.end()) {
        co_return it->second;
    }
    auto op = queue_.batch(rowid);
    store::store_result<store::batch_info> info = co_await std::move(op);
    if (!info) {
        log_->error("engine: cannot read batch #{}: {}", rowid, info.error().message());
        co_return nullptr;
    }
    auto entry = std::make_shared<batch_entry>();
    entry->id = std::move(info->id);
    entry->is_template = is_template_message(info->message_json);
    entry->preview = entry->is_template ? batch_entry::preview_state::due : batch_entry::preview_state::none;
    entry->probation = batch_probation(options_.batch_breaker_first);
    entry->message_json = std::move(info->message_json);
    entry->instance_ids = std::move(info->instance_ids);
    if (info->window) {
        window_parse w = parse_window(*info->window);
        if (w.ok()) {
            entry->window = std::move(w.schedule);
        } else {
            log_->error("engine: batch {}: window.{}: {}; sending at any hour", info->id, w.field, w.error);
        }
    }
    if (batches_.size() >= max_cached_batches) {
        batches_.clear();
    }
    batches_.emplace(rowid, entry);
    co_return entry;
}

asio::awaitable<void> dispatch_engine::claim(std::size_t li, std::size_t max_jobs) {
    lane& l = *lanes_[li];
    store::claim_request request{.account = l.account, .max_jobs = max_jobs, .now = time_.now()};
    auto op = queue_.claim(std::move(request));
    store::store_result<store::claim_result> r = co_await std::move(op);
    ++stats_.claims;
    l.claiming = false;
    const pace_time after = time_.steady_now();
    if (!r) {
        ++stats_.store_errors;
        log_->error("engine: account {}: claim failed: {}", l.account, r.error().message());
        l.claim_after = after + options_.idle_claim_interval;
        mark(li);
        co_return;
    }
    if (r->account_hold) {
        if (!l.held) {
            log_->warn("engine: account {} is held ({}: {})", l.account, r->account_hold->cause,
                       r->account_hold->reason_code);
        }
        l.held = true;
        l.claim_after = after + options_.held_claim_interval;
        mark(li);
        co_return;
    }
    if (l.held) {
        log_->info("engine: account {}: hold lifted, dispatching again", l.account);
        l.held = false;
    }
    l.claim_after = r->jobs.empty() ? after + options_.idle_claim_interval : after;
    stats_.claimed += r->jobs.size();
    for (store::claimed_job& j : r->jobs) {
        auto bop = batch_for(j.batch_id);
        std::shared_ptr<batch_entry> b = co_await std::move(bop);
        const timestamp t = time_.now();
        const bool closed = b && b->window && !b->window->is_open(t);
        if (stopping_ || !b || closed || l.held || b->held) {
            // Not sent now: back in line, no attempt. An unreadable batch is retried after a pause.
            const std::optional<timestamp> at = closed ? std::optional(b->window->next_open(t))
                                                : !b   ? std::optional(t + options_.held_claim_interval)
                                                       : std::nullopt;
            spawn(unclaim(store::unclaim_request{.job_id = j.id,
                                                 .attempt = j.attempt,
                                                 .new_state = at ? job_state::waiting : job_state::ready,
                                                 .next_attempt_at = at,
                                                 .now = t}));
            continue;
        }
        // A job not pinned to a number gets one when it leaves (send_ready: the least loaded that may send).
        std::string instance = j.instance_id;
        note_work(l, instance.empty() ? b->instance_ids : std::vector<std::string>{instance}, after);
        pending_job p{.job = std::move(j),
                      .batch = std::move(b),
                      .instance_id = std::move(instance),
                      .sent_at = {},
                      .claimed_at = after,
                      .departure = {}};
        if (std::optional<settle_target> target = crash_target(p)) {
            // A crash left an attempt of it ambiguous: the account's messages say whether it went, before
            // this claim sends anything (a provider may record a message a little after it was written).
            l.settles.push_back(settle_entry{.decision = {},
                                             .resume = std::move(p),
                                             .target = std::move(*target),
                                             .due = after + options_.settle.delay,
                                             .cursor = std::nullopt,
                                             .pages = 0});
            continue;
        }
        l.window.push_back(std::move(p));
    }
    mark(li);
}

std::optional<settle_target> dispatch_engine::crash_target(const pending_job& p) const {
    if (!p.job.unsettled || p.job.to.empty()) {
        return std::nullopt;  // a campaign's creation cannot be found in the messages: the store holds it
    }
    built_request built =
        build_send_request(p.batch->message_json, p.job.payload_json, p.instance_id, p.job.to);
    auto* request = std::get_if<api::send_request>(&built);
    if (request == nullptr) {
        return std::nullopt;  // it cannot be sent either: send_one records why
    }
    // Which number an unpinned job left through died with the crash: any of the account's may match.
    return settle_target{.instance_id = p.instance_id,
                         .to = p.job.to,
                         .content = std::move(request->content),
                         .attempt_started = p.job.unsettled->started_at};
}

template <class Created>
send_answer dispatch_engine::answer_of(const api::api_result<Created>& r) const {
    send_answer a;
    a.v = r.verdict();
    a.http_status = r.http_status();
    a.api_code = std::string(r.api_code());
    if (r.ok()) {
        a.message_id = r->id;
        a.api_status = r->status;
        return a;
    }
    const api::api_failure& f = r.failure();
    a.http_status = a.http_status != 0 ? a.http_status : f.http_status;
    a.retry_after = f.retry_after;
    if (!a.retry_after && f.error) {
        a.retry_after = f.error->retry_after;
    }
    a.cancelled_unsent =
        stopping_ && f.outcome == transport_outcome::not_sent && f.ec == asio::error::operation_aborted;
    return a;
}

asio::awaitable<void> dispatch_engine::send_one(std::size_t li, pending_job p,
                                                std::optional<pace_time> slot) {
    lane& l = *lanes_[li];
    const timestamp started = time_.now();
    // When the request is written (a wait for a connection, or its handshakes, is a stall the pacer must
    // count); now for one that never is.
    pace_time left = time_.steady_now();
    const auto on_write = [this, &l, &left, departure = p.departure] { left = departed(l, departure); };
    send_answer answer;
    built_request built =
        build_send_request(p.batch->message_json, p.job.payload_json, p.instance_id, p.job.to);
    const bool campaign = std::holds_alternative<campaign_create>(built);
    std::optional<api::message_content> sent_content;
    if (const std::string* error = std::get_if<std::string>(&built)) {
        log_->error("engine: job {} (batch #{}): {}", p.job.id, p.job.batch_id, *error);
        answer = local_failure(unbuildable_code);
    } else if (campaign) {
        // The campaign's id is kept as the job's message id (msgflashctl campaign pause|resume takes it).
        auto op = api_.create_campaign(l.account, std::move(std::get<campaign_create>(built).body), on_write);
        api::api_result<api::campaign> r = co_await std::move(op);
        answer = answer_of(r);
        if (r.ok()) {
            log_->info("engine: batch #{}: campaign {} created ({})", p.job.batch_id, r->id, r->status);
        } else if (answer.v.act != action::rate_limited) {
            log_->warn("engine: batch #{}: POST /campaigns: {} ({})", p.job.batch_id, r.failure().detail,
                       to_string(answer.v.act));
        }
    } else if (p.instance_id.empty()) {
        log_->error("engine: job {} (batch #{}): no WhatsApp number to send from", p.job.id, p.job.batch_id);
        answer = local_failure(no_instance_code);
    } else {
        sent_content = std::get<api::send_request>(built).content;
        auto op = api_.send(l.account, std::move(std::get<api::send_request>(built)), on_write);
        api::api_result<api::message_ref> r = co_await std::move(op);
        answer = answer_of(r);
        if (!r.ok() && answer.v.act != action::rate_limited) {
            log_->debug("engine: job {}: {} ({})", p.job.id, r.failure().detail, to_string(answer.v.act));
        }
    }
    --l.inflight;
    --inflight_;
    const timestamp finished = time_.now();
    const pace_time answered = time_.steady_now();
    if (slot) {
        stats_.lateness.add(left - std::min(*slot, left));
    }
    stats_.pacer_wait.add(left - std::min(p.claimed_at, left));
    stats_.answer_latency.add(answered - left);
    send_context ctx{.job = std::move(p.job),
                     .account = l.account,
                     .instance_id = p.instance_id,
                     .started = started,
                     .finished = finished};
    // A campaign created without an answer may exist: sending it again could start it twice, and no
    // message of ours would tell (its messages are the server's), so it is held for the operator whatever
    // retry.on_ambiguous says.
    retry_rules rules = options_.retry;
    if (campaign) {
        rules.on_ambiguous = ambiguous_policy::hold;
    }
    job_decision d = decide(ctx, answer, rules, draw());
    if (auto* r = std::get_if<store::job_result>(&d.change)) {
        if (campaign) {
            r->delivery = store::delivery_kind::campaign;  // reconciled from GET /campaigns/{id}/stats
        }
        r->settles = p.settles;
    }
    feed_breakers(li, p, answer, d, finished);
    if (!answer.api_code.empty() && answer.v.act != action::sent) {
        ++stats_.api_codes[answer.api_code];
    }
    if (d.rate_limited) {
        std::optional<pace_duration> pause;
        if (answer.retry_after) {
            pause = *answer.retry_after;
        }
        l.pacer.on_rate_limited(answered, left, pause);
        log_->warn("engine: account {}: 429 {}, pace now {:.2f} req/s", l.account, answer.api_code,
                   l.pacer.current_rate(answered));
    }
    if (d.hold_key) {
        log_->error("engine: account {}: key held ({}: {})", l.account, to_string(answer.v.cause),
                    answer.api_code);
        l.held = true;
        l.claim_after = answered + options_.held_claim_interval;
        give_back(l.window, finished);
    }
    if (answer.api_code.starts_with("PROVIDER_")) {
        // The provider may have lost the number: look at its state soon rather than at the next minute.
        l.next_instances_poll = std::min(l.next_instances_poll, l.last_instances_poll + min_instances_repoll);
        mark(li);
    }
    if (d.hold_number) {
        log_->error("engine: number {} held ({})", p.instance_id, answer.api_code);
        numbers_[p.instance_id].held = true;  // batches spread over several numbers use the others
        // A job not pinned to a number would leave through its batch's number when that is its only one.
        give_back(l.window, finished, [&](const pending_job& j) {
            return j.instance_id == p.instance_id ||
                   (j.instance_id.empty() && j.batch->instance_ids.size() == 1 &&
                    j.batch->instance_ids.front() == p.instance_id);
        });
    }
    mark(li);
    if (auto* r = std::get_if<store::job_result>(&d.change); r != nullptr && r->attempt.ambiguous) {
        if (!stopping_ && sent_content) {
            // The request may have gone: the account's recent messages say, before any retry.
            settle_target target{.instance_id = ctx.instance_id,
                                 .to = ctx.job.to,
                                 .content = std::move(*sent_content),
                                 .attempt_started = started};
            l.settles.push_back(settle_entry{.decision = std::move(d),
                                             .target = std::move(target),
                                             .due = answered + options_.settle.delay,
                                             .cursor = std::nullopt,
                                             .pages = 0});
            co_return;
        }
        r->attempt.settled = settle_outcome::unresolved;  // shutdown cancelled it: no time to ask
        ++stats_.settle_unresolved;
    }
    auto op = apply(std::move(d));
    co_await std::move(op);
}

void dispatch_engine::feed_breakers(std::size_t li, const pending_job& p, const send_answer& a,
                                    job_decision& d, timestamp now) {
    if (!p.instance_id.empty() && !a.cancelled_unsent) {
        number_state& n = number(p.instance_id);
        const provider_signal signal = a.v.provider_failure      ? provider_signal::failure
                                       : a.v.act == action::sent ? provider_signal::success
                                                                 : provider_signal::neutral;
        const breaker_state before = n.breaker.state(now);
        n.breaker.on_answer(p.sent_at, now, signal);
        const breaker_state after = n.breaker.state(now);
        if (after == breaker_state::open && before != breaker_state::open) {
            ++stats_.breaker_opened;
            log_->warn(
                "engine: number {}: {} {}: paused for {} s, then one probe", p.instance_id, a.api_code,
                before == breaker_state::half_open ? "on its probe" : "again and again",
                std::chrono::duration_cast<std::chrono::seconds>(n.breaker.open_until() - now).count());
        } else if (after == breaker_state::closed && before == breaker_state::half_open) {
            log_->info("engine: number {}: its probe went through, sending again", p.instance_id);
        }
    }
    batch_entry& b = *p.batch;
    if (a.v.act == action::sent) {
        b.probation.on_sent();
        return;
    }
    if (a.v.act != action::fail) {
        return;
    }
    if (b.held && b.probation.current() == batch_probation::verdict::tripped &&
        a.api_code == b.probation.code()) {
        // Answered after the breaker tripped: held with the batch, not failed.
        auto& r = std::get<store::job_result>(d.change);
        r.new_state = job_state::held;
        r.hold = store::hold_target{.scope = hold_scope::batch,
                                    .subject = b.id,
                                    .cause = std::string(batch_breaker_cause),
                                    .reason_code = a.api_code,
                                    .until = std::nullopt};
        return;
    }
    if (b.probation.on_failed(a.api_code) == batch_probation::verdict::tripped) {
        log_->error("engine: batch {}: its first {} answers all failed with {}: the batch is held", b.id,
                    options_.batch_breaker_first, a.api_code);
        spawn(hold_batch(li, p.batch, std::string(batch_breaker_cause), a.api_code));
    }
}

asio::awaitable<void> dispatch_engine::preview(std::size_t li, std::shared_ptr<batch_entry> b,
                                               api::send_request first, pace_time departure) {
    lane& l = *lanes_[li];
    const pace_time left = departed(l, departure);
    api::template_preview_request request;
    request.variables = std::move(first.content.variables);
    if (!first.instance_id.empty()) {
        request.instance_id = std::move(first.instance_id);
    }
    auto op = api_.preview_template(l.account, first.content.template_id.value_or(std::string{}),
                                    std::move(request));
    api::api_result<api::template_preview> r = co_await std::move(op);
    --l.inflight;
    --inflight_;
    b->preview = batch_entry::preview_state::none;
    mark(li);
    if (r.ok()) {
        log_->info("engine: batch {}: template {} previewed, sending", b->id,
                   first.content.template_id.value_or(""));
        co_return;
    }
    const verdict v = r.verdict();
    const std::string code(r.api_code());
    if (v.act == action::rate_limited) {
        l.pacer.on_rate_limited(time_.steady_now(), left, r.failure().retry_after);
        b->preview = batch_entry::preview_state::due;  // asked again in a later slot
        co_return;
    }
    if (v.act == action::fail) {
        log_->error("engine: batch {}: the preview of template {} was refused ({}): the batch is held", b->id,
                    first.content.template_id.value_or(""), code);
        auto hold = hold_batch(li, b, std::string(preview_refused_cause), code);
        co_await std::move(hold);
        co_return;
    }
    // Not an answer about the template (a timeout, a key problem): the batch goes on, and its first sends'
    // answers decide (key holds, the batch breaker).
    log_->warn("engine: batch {}: template preview not answered ({}); sending without it", b->id,
               r.failure().detail);
}

asio::awaitable<void> dispatch_engine::hold_batch(std::size_t li, std::shared_ptr<batch_entry> b,
                                                  std::string cause, std::string code) {
    lane& l = *lanes_[li];
    b->held = true;
    ++stats_.batches_held;
    const timestamp now = time_.now();
    store::hold_request request{.target = {.scope = hold_scope::batch,
                                           .subject = b->id,
                                           .cause = std::move(cause),
                                           .reason_code = std::move(code),
                                           .until = std::nullopt},
                                .now = now};
    auto op = queue_.hold(std::move(request));
    store::store_result<store::hold_info> placed = co_await std::move(op);
    if (!placed) {
        ++stats_.store_errors;
        log_->error("engine: batch {}: hold not placed: {}", b->id, placed.error().message());
    }
    // Its claimed jobs go back; the store holds them with the batch (a job given back to a held batch is
    // held).
    give_back(l.window, time_.now(), [&](const pending_job& j) { return j.batch == b; });
    mark(li);
}

asio::awaitable<void> dispatch_engine::apply(job_decision d) {
    if (auto* u = std::get_if<store::unclaim_request>(&d.change)) {
        auto op = unclaim(*u);
        co_await std::move(op);
        co_return;
    }
    store::job_result& r = std::get<store::job_result>(d.change);
    const std::int64_t job = r.attempt.job_id;
    stats_.ambiguous += r.attempt.ambiguous ? 1 : 0;
    if (r.new_state == job_state::sent && !r.reconcile_at) {
        r.reconcile_at = r.attempt.finished_at + options_.reconcile.first_check;  // just sent: still queued
    }
    switch (r.new_state) {
        case job_state::sent:
            ++stats_.sent;
            break;
        case job_state::failed:
            ++stats_.failed;
            break;
        case job_state::dead:
            ++stats_.dead;
            break;
        case job_state::held:
            ++stats_.held;
            break;
        case job_state::ready:
            stats_.rate_limited += d.rate_limited ? 1 : 0;
            break;
        default:
            ++stats_.retried;
            break;
    }
    auto op = queue_.record(std::move(r));
    store::store_result<job_state> res = co_await std::move(op);
    if (!res) {
        ++stats_.store_errors;
        log_->error("engine: job {}: result not recorded: {}", job, res.error().message());
    }
}

asio::awaitable<void> dispatch_engine::release_number(std::size_t li, std::string id) {
    auto op = queue_.release(hold_scope::number, id, time_.now());
    store::store_result<store::release_report> r = co_await std::move(op);
    if (!r) {
        ++stats_.store_errors;
        number(id).disconnect_held = true;  // tried again after the next poll
        log_->error("engine: number {}: hold not lifted: {}", id, r.error().message());
        co_return;
    }
    log_->info("engine: number {}: {} held job(s) back in the queue", id, r->jobs_resumed);
    lanes_[li]->claim_after = time_.steady_now();
    mark(li);
}

asio::awaitable<void> dispatch_engine::unclaim(store::unclaim_request r) {
    const std::int64_t job = r.job_id;
    auto op = queue_.unclaim(std::move(r));
    store::store_result<job_state> res = co_await std::move(op);
    if (!res) {
        ++stats_.store_errors;
        log_->error("engine: job {}: not given back: {}", job, res.error().message());
        co_return;
    }
    ++stats_.unclaimed;
}

}  // namespace msgflash::engine
