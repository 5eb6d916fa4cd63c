// Reconciliation's pure decisions (SPEC §7, issue 7 items 1–2): when a sent message's delivery status is
// checked next, what an answer about it does to its delivery row, and how a page of GET /messages (newest
// first) settles an ambiguous attempt. No I/O, no clock: the engine (dispatch_engine.cpp) carries them out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "api/api_types.hpp"
#include "core/job.hpp"
#include "store/queue_types.hpp"

namespace msgflash::engine {

struct reconcile_rules {
    std::chrono::milliseconds max_age{259'200'000};  // reconcile.max_age (72 h): then 'gave-up'
    // The first check this long after the send (the sim's messages are delivered within 2 steps of 1 s; a
    // real provider reports most within seconds), then checks space out as the message ages: each interval
    // is the message's age again (so they double), within [first_check, max_interval].
    std::chrono::milliseconds first_check{5'000};
    std::chrono::milliseconds max_interval{3'600'000};
};

// delivered, read, failed (the final statuses; `delivered` may still become `read`, which is not
// polled for: a report needs to know it arrived).
bool is_final_delivery_status(std::string_view status) noexcept;

// The delivery row's settled value for a message the API does not know (404 NOT_FOUND): polling it again
// cannot help.
inline constexpr std::string_view delivery_not_found = "not-found";
inline constexpr std::string_view delivery_gave_up = "gave-up";

// When a message sent at `sent_at`, looked at `now` without a final status, is looked at next; nullopt when
// `now` is already past sent_at + max_age (give up). Never later than the last check at sent_at + max_age.
std::optional<timestamp> next_check_at(timestamp sent_at, timestamp now, const reconcile_rules& rules);

// The time the API gives for the message's current status (sentAt, deliveredAt, readAt, failedAt).
std::optional<timestamp> status_time(const api::message_details& m);

// What an answer about the message (GET /messages/{id}, or its entry in a list page) does to its row.
store::delivery_update delivery_from_message(const store::delivery_check& c, const api::message_details& m,
                                             timestamp now, const reconcile_rules& rules);
// What GET /campaigns/{id}/stats does to a campaign job's row (c.campaign): the counts become the batch's
// campaign_stats; the row settles "completed" once no recipient is pending or merely sent (each one
// delivered, read or failed), else stays "running" and is checked again as a message would be.
inline constexpr std::string_view campaign_completed = "completed";
inline constexpr std::string_view campaign_running = "running";
store::delivery_update delivery_from_campaign(const store::delivery_check& c, const api::campaign_stats& k,
                                              timestamp now, const reconcile_rules& rules);
// No usable answer (a transport failure, 5xx, 429): checked again later, or given up past max_age.
// `not_found`: the API answered 404 NOT_FOUND.
store::delivery_update delivery_unanswered(const store::delivery_check& c, timestamp now,
                                           const reconcile_rules& rules, bool not_found);
// A claimed check already past max_age: given up without a request.
bool past_max_age(const store::delivery_check& c, timestamp now, const reconcile_rules& rules);

// ---- settling an ambiguous attempt ----------------------------------------------------------------------

// What the attempt sent (the job's identity on the API's side: instance, recipient, content) and when.
struct settle_target {
    std::string instance_id{};  // empty: any of the account's numbers (a crash lost which one it chose)
    std::string to{};
    api::message_content content{};
    timestamp attempt_started{};
};

struct settle_rules {
    // The first page is read this long after the ambiguous answer: a provider may record the message a
    // little after it closed the connection.
    std::chrono::milliseconds delay{2'000};
    // The walk stops at a message created this long before the attempt began (the API's clock and ours may
    // differ a little; createdAt is the API's).
    std::chrono::milliseconds clock_margin{10'000};
    std::size_t max_pages = 10;  // then the attempt is unresolved
    std::uint32_t page_limit = 100;
};

// The message is the one the attempt would have created.
bool matches(const api::message_details& m, const settle_target& t);

struct page_scan {
    std::optional<api::message_details> found{};
    // No older page can hold it: the page reached messages created before the attempt, or the list's end.
    bool exhausted = false;
};
page_scan scan_page(const api::message_page& page, const settle_target& t, const settle_rules& rules);

// The decision for an ambiguous answer (result_decision.hpp: retry, hold or dead), settled: found → the job
// is sent with that message (the request did go: no second POST); otherwise it stands, with the outcome on
// the attempt.
void settle(store::job_result& r, settle_outcome outcome, const api::message_details* found);

// A claimed job's crash-left attempt (claimed_job::unsettled) was found to have sent `m`: the result that
// makes the job sent with it, settling that attempt, with no request of this claim's.
store::job_result sent_by_earlier(const store::claimed_job& j, const api::message_details& m, timestamp now);

}  // namespace msgflash::engine
