// Recording fakes for the engine's ports (DESIGN: "the engine's fakes record what they were asked") and a
// virtual clock that drives an io_context in discrete steps: the test runs hours of pacing in milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/engine_ports.hpp"

namespace msgflash::engine::test {

// Virtual time: every sleeper (the engine's one timer, the fake API's latencies) is a steady_timer parked at
// the end of time and registered with its virtual due time; step() runs what is ready, then moves time to
// the earliest due sleeper and releases it.
class virtual_clock final : public time_port {
  public:
    explicit virtual_clock(boost::asio::io_context& io) : io_(io) {}

    timestamp now() const override;
    pace_time steady_now() const override { return steady_; }
    boost::asio::awaitable<void> sleep_until(pace_time deadline) override;
    void wake() override;

    // For fakes: returns `d` of virtual time later.
    boost::asio::awaitable<void> delay(pace_duration d);

    // Runs every ready handler, then advances to the next sleeper. False when no sleeper is left.
    bool step();
    // Steps until `done()` holds, at most `max_steps` times; the result of done() at the end.
    bool run_until(const std::function<bool()>& done, int max_steps = 200'000);

  private:
    boost::asio::awaitable<void> park(pace_time due, bool engine);

    boost::asio::io_context& io_;
    pace_time steady_{std::chrono::hours{1}};
    std::multimap<pace_time, std::weak_ptr<boost::asio::steady_timer>> sleepers_;
    std::weak_ptr<boost::asio::steady_timer> engine_timer_;
    bool woken_ = false;
};

// The queue as the engine sees it: per account, a line of ready jobs (front first), waiting jobs with due
// times, key holds. Records every request it gets.
class fake_queue final : public queue_port {
  public:
    explicit fake_queue(const virtual_clock& clock) : clock_(clock) {}

    // Adds a ready job; returns its id.
    std::int64_t add_job(const std::string& account, std::int64_t batch, std::string to,
                         std::string payload_json = "null", std::string instance = {});
    void add_batch(std::int64_t rowid, std::string message_json, std::vector<std::string> instances,
                   std::optional<sending_window> window = std::nullopt);
    // What the store's crash recovery leaves: the job's attempt `n`, claimed at `claimed_at`, ambiguous and
    // unsettled; its claims carry it until a result settles it.
    void crash_left(std::int64_t job, int n, timestamp claimed_at);

    boost::asio::awaitable<store::store_result<store::claim_result>> claim(store::claim_request r) override;
    boost::asio::awaitable<store::store_result<job_state>> record(store::job_result r) override;
    boost::asio::awaitable<store::store_result<job_state>> unclaim(store::unclaim_request r) override;
    boost::asio::awaitable<store::store_result<store::batch_info>> batch(std::int64_t rowid) override;
    // Key and batch holds (a held batch's jobs are held, not claimed, until the test releases nothing: the
    // engine never lifts a batch hold itself).
    boost::asio::awaitable<store::store_result<store::hold_info>> hold(store::hold_request r) override;
    // Number holds only (what the engine lifts): the jobs given back on the hold go back to the line.
    boost::asio::awaitable<store::store_result<store::release_report>> release(hold_scope scope,
                                                                               std::string subject,
                                                                               timestamp now) override;
    boost::asio::awaitable<store::store_result<std::vector<store::delivery_check>>> claim_deliveries(
        std::string account, timestamp now, std::size_t limit, timestamp lease_until) override;
    boost::asio::awaitable<store::store_result<void>> record_delivery(store::delivery_update u) override;
    // The deliveries table: one row per sent result (as the store keeps it), or added by the test.
    struct delivery_row {
        std::string account;
        store::delivery_check check;
        timestamp next_check_at{};
        std::string status;
        std::optional<timestamp> status_at;
        std::string settled;
        int checks = 0;  // updates recorded
    };
    std::map<std::int64_t, delivery_row> deliveries;
    std::vector<store::delivery_update> delivery_updates;
    std::size_t delivery_claims = 0;
    void add_delivery(const std::string& account, std::int64_t job, std::string message_id,
                      timestamp sent_at);
    std::size_t unsettled() const;

    std::vector<std::string> releases;  // the subjects released
    // What the store does for a batch hold or an operator's pause: the batch's jobs are held, not claimed.
    void hold_batch(const std::string& name);

    std::vector<store::claim_request> claims;
    std::vector<store::hold_request> holds;
    std::vector<store::job_result> results;
    std::vector<store::unclaim_request> unclaims;

    std::size_t inflight() const { return inflight_.size(); }
    // The last result recorded for a job.
    const store::job_result* last_result(std::int64_t job) const;
    std::size_t count_state(job_state s) const;  // jobs whose last result left them in s

  private:
    void requeue(std::int64_t job, job_state s, std::optional<timestamp> at);
    bool batch_held(std::int64_t job) const;

    const virtual_clock& clock_;
    std::int64_t next_id_ = 1;
    std::map<std::int64_t, store::claimed_job> jobs_;
    std::map<std::int64_t, std::string> account_of_;
    std::map<std::int64_t, int> attempts_;
    std::map<std::string, std::deque<std::int64_t>> ready_;
    std::multimap<timestamp, std::int64_t> waiting_;
    std::map<std::int64_t, std::int64_t> inflight_;  // job → attempt
    std::map<std::int64_t, job_state> state_;
    std::map<std::string, store::hold_target> key_holds_;
    std::map<std::int64_t, store::batch_info> batches_;
    std::set<std::string> held_batches_;
    std::map<std::string, std::vector<std::int64_t>> held_on_number_;
};

// ISO 8601 with milliseconds, UTC ("2026-11-22T10:00:01.250Z"), as the API writes times.
std::string iso(timestamp t);

// What the fake API answers: scripted per recipient (in order; then `fallback`), after `latency`.
struct fake_answer {
    enum class kind { ok, error, ambiguous, not_sent, hang };
    kind k = kind::ok;
    unsigned status = 200;
    std::string code{};
    std::optional<std::chrono::seconds> retry_after{};
    pace_duration latency{};

    static fake_answer success(pace_duration latency = {}) { return {.latency = latency}; }
    static fake_answer error(unsigned status, std::string code) {
        return {.k = kind::error, .status = status, .code = std::move(code)};
    }
};

class fake_api final : public send_port {
  public:
    fake_api(boost::asio::io_context& io, virtual_clock& clock) : io_(io), clock_(clock) {}

    // Calls on_write at once: a fake request is written the moment it is made.
    boost::asio::awaitable<api::api_result<api::message_ref>> send(std::string account, api::send_request r,
                                                                   std::function<void()> on_write) override;
    boost::asio::awaitable<api::api_result<api::campaign>> create_campaign(
        std::string account, boost::json::object body, std::function<void()> on_write) override;
    boost::asio::awaitable<api::api_result<std::vector<api::instance>>> list_instances(
        std::string account) override;
    boost::asio::awaitable<api::api_result<api::instance_health>> instance_health(std::string account,
                                                                                  std::string id) override;
    boost::asio::awaitable<api::api_result<api::template_preview>> preview_template(
        std::string account, std::string id, api::template_preview_request r) override;
    boost::asio::awaitable<api::api_result<api::message_details>> get_message(std::string account,
                                                                              std::string id) override;
    boost::asio::awaitable<api::api_result<api::message_page>> list_messages(std::string account,
                                                                             api::message_query q) override;
    boost::asio::awaitable<api::api_result<api::campaign_stats>> campaign_stats(std::string account,
                                                                                std::string id) override;
    void cancel_all() override;

    // The messages the API holds, oldest first: each accepted send adds its own (queued), and so does an
    // ambiguous answer while ambiguous_processed (msgflash-sim's ambiguous close: processed, then no answer).
    std::vector<api::message_details> messages;
    bool ambiguous_processed = true;
    void set_status(std::string_view status);  // every message's, with its time
    // Reconciliation reads ("get" or "list"), and scripted answers to them (then ok).
    struct read {
        std::string account;
        std::string what;
        pace_time at;
    };
    std::vector<read> reads;
    std::deque<fake_answer> read_script;
    pace_duration read_latency{};

    struct request {
        std::string account;
        api::send_request body;
        pace_time at;
    };
    std::vector<request> requests;
    std::map<std::string, std::deque<fake_answer>> script;  // by `to`
    fake_answer fallback = fake_answer::success();
    // Housekeeping: what GET /instances lists (id → status) and what each number's /health says (a number
    // not listed: healthy, no guidance); every poll is recorded, with the key's requests, in `polls`.
    std::map<std::string, std::string> instance_status;
    std::map<std::string, api::instance_health> health;
    struct poll {
        std::string account;
        std::string what;  // "instances" or the number whose health was asked
        pace_time at;
    };
    std::vector<poll> polls;
    // Template previews asked (template id, variables) and how they are answered (ok or error only).
    struct preview_call {
        std::string account;
        std::string template_id;
        api::template_preview_request body;
        pace_time at;
    };
    std::vector<preview_call> previews;
    fake_answer preview_answer = fake_answer::success();
    // Campaigns created (POST /campaigns), answered with campaign_answer (ok, error or ambiguous).
    struct campaign_call {
        std::string account;
        boost::json::object body;
        pace_time at;
    };
    std::vector<campaign_call> campaigns;
    fake_answer campaign_answer = fake_answer::success();
    // What GET /campaigns/{id}/stats answers for every campaign (a read "stats <id>", read_script first).
    api::campaign_stats campaign_progress{};
    std::size_t cancel_calls = 0;
    std::size_t in_flight = 0;
    std::size_t max_in_flight = 0;

  private:
    boost::asio::io_context& io_;
    virtual_clock& clock_;
    std::vector<std::weak_ptr<boost::asio::steady_timer>> hung_;
    std::uint64_t next_message_ = 1;
};

}  // namespace msgflash::engine::test
