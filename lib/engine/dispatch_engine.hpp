// The dispatch loop (issue 5): per account, a bounded window of claimed jobs fed from the queue, sent at the
// key's pace (core/pacer.hpp) by ONE scheduler coroutine under one timer (core/key_timeline.hpp), each answer
// turned into the job's next state (result_decision.hpp) and recorded. Runs on one io_context thread; stop()
// is SIGTERM.
//
// Per number: the operator's caps ([[instances]]: per_minute, per_hour, per_day, min_interval) over counters
// that start from the store's (a restart keeps the day's budget), and pacing.per_recipient_gap; a job of a
// batch spread over several numbers leaves through the least-loaded number that may send now, and a job
// that no number of its batch may send soon goes back to the queue, waiting, without an attempt.
//
// The instance monitor: for each key with work, GET /instances every instance_poll_interval (and soon after
// a 502 PROVIDER_* from one of its numbers), GET /instances/{id}/health every health_poll_interval for each
// number with work. Only numbers not reported disconnected are sent to; the warm-up policy and usage windows
// of the health document tighten the operator's caps, scaled by safetyState with asymmetric hysteresis
// (core/number_caps.hpp). Every poll takes one of the key's slots from its pacer.
//
// Breakers (core/backoff.hpp): consecutive 502 PROVIDER_* answers from one number pause it, then one probe
// goes; the first answers of a batch all failing permanently with one code hold the batch with that code
// (the jobs answered after that with the same code are held with it, not failed). A template batch is
// previewed once (POST /templates/{id}/preview with its first job's variables) before its first send; a
// preview refused permanently holds the batch before any message goes.
//
// Reconciliation (issue 7; reconcile_policy.hpp): each key's sent messages whose delivery check is due are
// claimed from the store and looked at in the key's spare capacity only (request_class::housekeeping: never
// a slot a waiting send could use, never more than its share): GET /messages/{id} each, or pages of
// GET /messages (newest first) when many are due at once, until a final status or reconcile.max_age; a
// campaign file's job by GET /campaigns/{id}/stats, until none of its recipients is pending or merely sent.
// An ambiguous answer to a send is settled before any retry: after a short delay the account's messages are
// paged newest first (each page one send slot, as the retry would be) until one matches the job — then the
// job is sent with it and no second request is made — or they are older than the attempt.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "core/backoff.hpp"
#include "core/key_timeline.hpp"
#include "core/number_caps.hpp"
#include "core/pacer.hpp"
#include "core/sending_window.hpp"
#include "engine/engine_ports.hpp"
#include "engine/reconcile_policy.hpp"
#include "engine/result_decision.hpp"
#include "engine/send_lateness.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::engine {

// The cause of the hold on a number GET /instances reports not connected (its status is the reason): the
// jobs that can only leave through it are held on it, and it lifts when the number is connected again. A
// daemon that starts lifts those a previous process left (its own first poll holds them again if need be).
inline constexpr std::string_view number_disconnected_cause = "disconnected";

struct account_options {
    std::string name{};
    std::uint32_t rate = documented_rate_per_key;  // accounts[].rate
};

struct engine_options {
    std::vector<account_options> accounts{};
    retry_rules retry{};
    std::chrono::milliseconds shutdown_grace{10'000};
    // Requests of one key on the wire at once; 0: the key's rate (one second of answers in flight, by
    // Little's law 10 req/s × a 200 ms answer needs only 2–3, so a full second leaves room for slow answers).
    std::size_t max_inflight_per_key = 0;
    // Claimed jobs kept ready per key; 0: two seconds of sends at the key's rate (at least min_window).
    std::size_t window_per_key = 0;
    // A key whose last claim found nothing asks again after this long (new jobs, backoffs coming due).
    std::chrono::milliseconds idle_claim_interval{250};
    // A key held by the store (quota, auth, configuration) asks again after this long.
    std::chrono::milliseconds held_claim_interval{5'000};
    // The operator's caps by instance id ([[instances]]); a number not listed has none of its own.
    std::map<std::string, send_caps, std::less<>> number_caps{};
    // Sends each number already made in the current UTC minute, hour and day (the store's counters).
    std::map<std::string, window_counts, std::less<>> number_counts{};
    std::chrono::milliseconds per_recipient_gap{6'000};        // pacing.per_recipient_gap
    std::chrono::milliseconds instance_poll_interval{60'000};  // pacing.instance_poll_interval
    std::chrono::milliseconds health_poll_interval{300'000};   // pacing.health_poll_interval
    hysteresis_options hysteresis{};
    breaker_options number_breaker{};
    // The batch breaker: this many first answers of a batch, all permanent failures with one code, hold it.
    std::uint32_t batch_breaker_first = 20;
    // A job that no number of its batch may send within this long goes back to the queue until it may.
    std::chrono::milliseconds number_wait_in_window{2'000};
    std::uint64_t seed = 0;                 // full-jitter draws
    std::shared_ptr<spdlog::logger> log{};  // null: a logger that discards
    pacer_options pacer{};                  // `rate` is taken from the account
    reconcile_rules reconcile{};            // reconcile.max_age and the checks' spacing
    settle_rules settle{};                  // settling ambiguous attempts
    // Delivery checks claimed at once (one list page's worth), leased this long (a restart finds them due
    // again after it), and how often a key with none due asks the store again (reconcile_now() sooner).
    std::size_t delivery_claim_limit = 100;
    std::chrono::milliseconds delivery_lease{120'000};
    std::chrono::milliseconds delivery_idle_claim_interval{10'000};
    // With at least this many checks due, they are first looked for in pages of GET /messages (one request
    // answers up to a page of them: a batch just sent is the account's newest messages), at most this many
    // pages; the rest get GET /messages/{id} each.
    std::size_t list_walk_min_checks = 8;
    std::size_t list_walk_max_pages = 5;
};

struct engine_stats {
    std::uint64_t claims = 0;
    std::uint64_t claimed = 0;
    std::uint64_t requests = 0;
    std::uint64_t sent = 0;
    std::uint64_t failed = 0;
    std::uint64_t retried = 0;
    std::uint64_t dead = 0;
    std::uint64_t rate_limited = 0;
    std::uint64_t held = 0;
    std::uint64_t ambiguous = 0;
    std::uint64_t unclaimed = 0;
    std::uint64_t store_errors = 0;
    std::uint64_t polls = 0;     // instance and health polls sent
    std::uint64_t previews = 0;  // template previews sent
    std::uint64_t breaker_opened = 0;
    std::uint64_t batches_held = 0;  // by the batch breaker or a refused preview
    std::map<std::string, std::uint64_t, std::less<>> api_codes{};  // error answers to sends by API code
    // Sends that left behind a slot the scheduler had set for them: how late (send_lateness.hpp).
    lateness_histogram lateness{};
    lateness_histogram answer_latency{};  // from a send leaving to its answer
    lateness_histogram pacer_wait{};      // from a job entering its key's window to its send leaving
    // Reconciliation.
    std::uint64_t delivery_reads = 0;   // GET /messages/{id} and GET /campaigns/{id}/stats
    std::uint64_t delivery_pages = 0;   // GET /messages pages read for delivery checks
    std::uint64_t delivery_checks = 0;  // delivery rows updated
    std::map<std::string, std::uint64_t, std::less<>> deliveries_settled{};  // by settled value
    std::uint64_t settle_pages = 0;   // GET /messages pages read to settle ambiguous attempts
    std::uint64_t settled_found = 0;  // ambiguous attempts found sent: no second request
    std::uint64_t settled_not_found = 0;
    std::uint64_t settle_unresolved = 0;
};

class dispatch_engine {
  public:
    dispatch_engine(engine_options options, queue_port& queue, send_port& api, time_port& time);
    ~dispatch_engine();
    dispatch_engine(const dispatch_engine&) = delete;
    dispatch_engine& operator=(const dispatch_engine&) = delete;

    // The scheduler. Completes once stop() was called and every claim, request and record has ended.
    boost::asio::awaitable<void> run();
    // Stop claiming and sending; in-flight requests get shutdown_grace to answer, then are cancelled and
    // recorded (an unanswered written request is ambiguous). Call on the engine's thread.
    void stop();
    // The account's key hold was lifted (a reload): claim again now. Call on the engine's thread.
    void resume_account(std::string_view account);
    // The operator resumed the batch (msgflashctl resume): what the engine learnt of it is forgotten (its
    // breaker, its preview), and its jobs are read afresh when claimed.
    void forget_batch(std::string_view id);
    // The operator paused or cancelled the batch: the jobs of it the engine holds claimed go back to the
    // queue (which holds or cancels them) instead of being sent. Call on the engine's thread.
    void drop_batch(std::string_view id);
    // The operator resumed the number: the engine sends through it again (a hold from an answer, its
    // breaker).
    void resume_number(std::string_view id);
    // Another request is to be made with the account's key (SPEC §6: one budget per key): `granted` is called
    // on the engine's thread when the key's pacer gives it a slot (at once while stopping).
    void request_slot(std::string_view account, std::function<void()> granted);
    // The operator asked for reconciliation now (the store made the deliveries due): every key claims its due
    // checks at once instead of at its next idle claim. Call on the engine's thread.
    void reconcile_now();

    const engine_stats& stats() const noexcept { return stats_; }
    // The account's current pace (requests/second), for logs and tests.
    double current_rate(std::string_view account) const;

  private:
    struct batch_entry;
    struct pending_job;
    struct lane;
    struct settle_entry;
    struct number_state {
        send_caps caps{};  // the operator's
        window_counts counts{};
        std::optional<timestamp> last_send{};
        bool connected = true;         // as GET /instances said last; a number it has not listed yet is tried
        std::string status{};          // …and its status then
        bool disconnect_held = false;  // jobs were held on its hold: lift it when it is connected again
        number_caps model{};           // the health reports, with hysteresis
        std::optional<usage_report> reported{};
        pace_time next_health{};  // when its health is due
        bool health_polling = false;
        // An answer held the number (the store keeps the hold); until a restart this engine sends nothing
        // more through it.
        bool held = false;
        number_breaker breaker{};
    };

    void mark(std::size_t lane);
    void service(std::size_t lane, pace_time pnow);
    void begin_stop(timestamp now, pace_time pnow);
    // Gives the claimed jobs `which` selects (all by default) back to the queue, ready, without an attempt.
    void give_back(std::deque<pending_job>& jobs, timestamp now,
                   const std::function<bool(const pending_job&)>& which = {});
    // The number `p` may leave through first (its own, or the least-loaded of its batch's) and when;
    // timestamp::max() when none may send until its caps change.
    struct number_choice {
        std::string number;
        timestamp at;
    };
    number_choice choose_number(const pending_job& p, timestamp now) const;
    timestamp number_gate(const std::string& number, const std::string& to, timestamp now) const;
    // The number to hold `p` on when every number it may leave through is reported not connected.
    const std::string* disconnected_number(const pending_job& p) const;
    void note_number_send(const std::string& number, const std::string& to, timestamp now);
    number_state& number(const std::string& id);
    // A claim brought the lane jobs for these numbers: they have work, and so has the lane.
    void note_work(lane& l, const std::vector<std::string>& numbers, pace_time pnow);
    // Housekeeping due for the lane (instances, then one number's health), sent in a send slot when the
    // pacer gives one; returns when the next one is due, if the lane has work.
    std::optional<pace_time> poll_due(std::size_t lane, pace_time pnow);
    // Gives the first request_slot() waiter a slot if the pacer has one; when the next is due, if any waits.
    std::optional<pace_time> grant_slot(std::size_t lane, pace_time pnow);
    boost::asio::awaitable<void> poll_instances(std::size_t lane, pace_time departure);
    boost::asio::awaitable<void> poll_health(std::size_t lane, std::string id, pace_time departure);
    // A request of the lane, recorded by its pacer at `departure`, is leaving now: a stall in between
    // (pacer::on_left) moves the recorded departure to now, which it returns.
    pace_time departed(lane& l, pace_time departure);
    // The next page of the first ambiguous answer to settle, in a send slot ahead of the sends (as polls);
    // delivery checks due for the lane, in housekeeping slots after them. Each returns when to look again, if
    // a time says it (answers and claims mark the lane).
    std::optional<pace_time> settle_due(std::size_t lane, pace_time pnow);
    std::optional<pace_time> reconcile_due(std::size_t lane, pace_time pnow);
    boost::asio::awaitable<void> claim_checks(std::size_t lane);
    // `departure`: what the lane's pacer recorded for the request (departed()).
    boost::asio::awaitable<void> check_delivery(std::size_t lane, store::delivery_check c,
                                                pace_time departure);
    boost::asio::awaitable<void> walk_deliveries(std::size_t lane, pace_time departure);
    boost::asio::awaitable<void> record_check(store::delivery_update u);
    boost::asio::awaitable<void> settle_page(std::size_t lane, pace_time departure);
    void finish_settle(std::size_t lane, settle_entry e, settle_outcome outcome,
                       const api::message_details* found);
    // What to look for in the account's messages before a claimed job with a crash-left attempt is sent
    // (none: nothing to settle, or nothing a message could match).
    std::optional<settle_target> crash_target(const pending_job& p) const;
    // A reconciliation read was answered 429: the key's pacer slows down as for a send.
    template <class T>
    void note_read_answer(lane& l, const api::api_result<T>& r, pace_time left);
    // Sends what may go now; returns when the lane wants to be looked at again for its numbers (if at all).
    std::optional<pace_time> send_ready(std::size_t lane, timestamp now, pace_time pnow);
    double draw();

    boost::asio::awaitable<void> claim(std::size_t lane, std::size_t max_jobs);
    boost::asio::awaitable<std::shared_ptr<batch_entry>> batch_for(std::int64_t rowid);
    // `slot`: when the scheduler's timer was set for it (none: it left as soon as it was claimed or
    // answered).
    boost::asio::awaitable<void> send_one(std::size_t lane, pending_job job, std::optional<pace_time> slot);
    boost::asio::awaitable<void> preview(std::size_t lane, std::shared_ptr<batch_entry> batch,
                                         api::send_request first, pace_time departure);
    // Holds the batch in the store (cause, code) and gives its claimed jobs back.
    boost::asio::awaitable<void> hold_batch(std::size_t lane, std::shared_ptr<batch_entry> batch,
                                            std::string cause, std::string code);
    // What the answer says to the number's breaker and the batch's; may turn `d` into a hold.
    void feed_breakers(std::size_t lane, const pending_job& p, const send_answer& a, job_decision& d,
                       timestamp now);
    boost::asio::awaitable<void> apply(job_decision d);
    boost::asio::awaitable<void> unclaim(store::unclaim_request r);
    boost::asio::awaitable<void> release_number(std::size_t lane, std::string id);
    // Runs `task` beside the scheduler; run() does not end before it has.
    void spawn(boost::asio::awaitable<void> task);
    // A send's or a campaign's answer (both give an id and a status).
    template <class Created>
    send_answer answer_of(const api::api_result<Created>& r) const;

    engine_options options_;
    queue_port& queue_;
    send_port& api_;
    time_port& time_;
    std::shared_ptr<spdlog::logger> log_;
    boost::asio::any_io_executor executor_;
    std::vector<std::unique_ptr<lane>> lanes_;
    key_timeline timeline_;
    std::vector<std::size_t> dirty_;
    std::unordered_map<std::int64_t, std::shared_ptr<batch_entry>> batches_;
    std::unordered_map<std::string, number_state> numbers_;
    recipient_gap recipient_gap_;
    std::mt19937_64 rng_;
    engine_stats stats_;
    std::size_t tasks_ = 0;     // claims, sends, records and unclaims still running
    std::size_t inflight_ = 0;  // requests on the wire, all keys
    bool stop_requested_ = false;
    bool stopping_ = false;
    bool cancelled_ = false;
    pace_time grace_deadline_{};
};

}  // namespace msgflash::engine
