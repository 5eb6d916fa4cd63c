// Reconciliation's pure decisions: when a delivery is checked next, what an answer records, and how a page
// of GET /messages settles an ambiguous attempt.
#include "engine/reconcile_policy.hpp"

#include <gtest/gtest.h>

namespace msgflash::engine {
namespace {

using namespace std::chrono_literals;

constexpr timestamp t0 = from_millis(1'795'341'600'000);  // 2026-11-22T10:00:00Z

store::delivery_check check(timestamp sent_at = t0) {
    return store::delivery_check{.job_id = 7, .message_id = "m-7", .status = "queued", .sent_at = sent_at};
}

api::message_details message(std::string status) {
    api::message_details m;
    m.id = "m-7";
    m.status = std::move(status);
    m.sent_at = "2026-11-22T10:00:01Z";
    m.delivered_at = "2026-11-22T10:00:02.500Z";
    return m;
}

TEST(ReconcilePolicy, ChecksSpaceOutAsTheMessageAgesUntilMaxAge) {
    const reconcile_rules r;                              // first 5 s, at most 1 h, max_age 72 h
    EXPECT_EQ(next_check_at(t0, t0 + 1s, r), t0 + 6s);    // at least first_check
    EXPECT_EQ(next_check_at(t0, t0 + 10s, r), t0 + 20s);  // its age again: the intervals double
    EXPECT_EQ(next_check_at(t0, t0 + 40s, r), t0 + 80s);
    EXPECT_EQ(next_check_at(t0, t0 + 5h, r), t0 + 6h);            // at most max_interval
    EXPECT_EQ(next_check_at(t0, t0 + 71h + 30min, r), t0 + 72h);  // never past the last check
    EXPECT_FALSE(next_check_at(t0, t0 + 72h, r));
}

TEST(ReconcilePolicy, AFinalStatusSettlesTheDeliveryWithItsTime) {
    const reconcile_rules r;
    for (const char* s : {"delivered", "read", "failed"}) {
        EXPECT_TRUE(is_final_delivery_status(s)) << s;
    }
    const auto u = delivery_from_message(check(), message("delivered"), t0 + 5s, r);
    EXPECT_EQ(u.job_id, 7);
    EXPECT_EQ(u.status, "delivered");
    EXPECT_EQ(u.settled, "delivered");
    EXPECT_EQ(u.status_at, t0 + 2500ms);
    EXPECT_EQ(u.checked_at, t0 + 5s);

    const auto sent = delivery_from_message(check(), message("sent"), t0 + 5s, r);
    EXPECT_EQ(sent.status, "sent");
    EXPECT_EQ(sent.status_at, t0 + 1s);
    EXPECT_TRUE(sent.settled.empty());
    EXPECT_EQ(sent.next_check_at, t0 + 10s);

    const auto late = delivery_from_message(check(), message("sent"), t0 + 73h, r);
    EXPECT_EQ(late.settled, "gave-up");
    EXPECT_EQ(late.status, "sent");  // what was known last stays
}

TEST(ReconcilePolicy, NoAnswerIsTriedAgainAndNotFoundEndsIt) {
    const reconcile_rules r;
    const auto again = delivery_unanswered(check(), t0 + 8s, r, false);
    EXPECT_TRUE(again.settled.empty());
    EXPECT_TRUE(again.status.empty());  // nothing new: the row keeps its status
    EXPECT_EQ(again.next_check_at, t0 + 16s);
    EXPECT_EQ(delivery_unanswered(check(), t0 + 8s, r, true).settled, "not-found");
    EXPECT_EQ(delivery_unanswered(check(), t0 + 80h, r, false).settled, "gave-up");
    EXPECT_TRUE(past_max_age(check(), t0 + 72h, r));
    EXPECT_FALSE(past_max_age(check(), t0 + 71h, r));
}

TEST(ReconcilePolicy, ACampaignSettlesOnceNoRecipientIsPendingOrSentAndKeepsEveryCount) {
    const reconcile_rules r;
    store::delivery_check c = check();
    c.message_id = "camp-1";
    c.campaign = true;
    const auto running =
        delivery_from_campaign(c, api::campaign_stats{.total = 4, .sent = 1, .delivered = 3}, t0 + 8s, r);
    EXPECT_EQ(running.status, "running");
    EXPECT_TRUE(running.settled.empty());
    EXPECT_EQ(running.next_check_at, t0 + 16s);  // spaced as a message's checks
    ASSERT_TRUE(running.campaign);
    EXPECT_EQ(*running.campaign,
              (store::campaign_counts{
                  .campaign_id = "camp-1", .total = 4, .sent = 1, .delivered = 3, .checked_at = t0 + 8s}));
    const auto done = delivery_from_campaign(
        c, api::campaign_stats{.total = 4, .delivered = 1, .read = 2, .failed = 1}, t0 + 20s, r);
    EXPECT_EQ(done.settled, "completed");
    EXPECT_EQ(done.status_at, t0 + 20s);
    ASSERT_TRUE(done.campaign);
    EXPECT_EQ(done.campaign->failed, 1);
    const auto stuck = delivery_from_campaign(c, api::campaign_stats{.total = 4, .pending = 4}, t0 + 73h, r);
    EXPECT_EQ(stuck.settled, "gave-up");
    ASSERT_TRUE(stuck.campaign) << "the counts read are kept even when reconciliation gives up";
    EXPECT_EQ(stuck.campaign->pending, 4);
}

api::message_details listed(std::string id, std::string to, std::string created,
                            std::string body = "Hi Ana") {
    api::message_details m;
    m.id = std::move(id);
    m.status = "queued";
    m.instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    m.to = std::move(to);
    m.type = "text";
    m.body = std::move(body);
    m.created_at = std::move(created);
    return m;
}

settle_target target() {
    settle_target t;
    t.instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    t.to = "+33612345678";
    t.content.type = "text";
    t.content.body = "Hi Ana";
    t.attempt_started = t0 + 60s;
    return t;
}

TEST(ReconcilePolicy, APageSettlesOnTheMessageMatchingInstanceRecipientAndContent) {
    const settle_rules rules;  // margin 10 s
    api::message_page page;
    page.messages = {listed("a", "+33600000001", "2026-11-22T10:01:05Z"),
                     listed("b", "+33612345678", "2026-11-22T10:01:03Z", "Hi Bob"),  // other content
                     listed("c", "+33612345678", "2026-11-22T10:01:00.200Z")};
    page.has_more = true;
    page.next_cursor = "x";
    const page_scan s = scan_page(page, target(), rules);
    ASSERT_TRUE(s.found);
    EXPECT_EQ(s.found->id, "c");

    api::message_details other_number = listed("d", "+33612345678", "2026-11-22T10:01:00Z");
    other_number.instance_id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    EXPECT_FALSE(matches(other_number, target()));
    settle_target any_number = target();
    any_number.instance_id.clear();  // a crash lost which number the attempt chose
    EXPECT_TRUE(matches(other_number, any_number));
    settle_target tpl = target();
    tpl.content = {};
    tpl.content.template_id = "3f2c8d9e-1b4a-4c6d-9e8f-7a6b5c4d3e2f";
    api::message_details rendered = listed("e", "+33612345678", "2026-11-22T10:01:00Z", "Hi Ana, rendered");
    EXPECT_FALSE(matches(rendered, tpl));
    rendered.template_id = tpl.content.template_id;
    EXPECT_TRUE(matches(rendered, tpl)) << "a template message is matched by its template";
}

TEST(ReconcilePolicy, AWalkEndsOnceOlderThanTheAttemptOrAtTheListsEnd) {
    const settle_rules rules;
    api::message_page page;
    page.messages = {listed("a", "+33600000001", "2026-11-22T10:00:55Z"),   // within the margin
                     listed("b", "+33600000002", "2026-11-22T10:00:49Z")};  // older than start - 10 s
    page.has_more = true;
    page.next_cursor = "x";
    page_scan s = scan_page(page, target(), rules);
    EXPECT_FALSE(s.found);
    EXPECT_TRUE(s.exhausted);

    // The same message sent long before the attempt (an earlier campaign's) is not the attempt's.
    api::message_page earlier;
    earlier.messages = {listed("c", "+33612345678", "2026-11-22T09:00:00Z")};
    earlier.has_more = true;
    const page_scan before = scan_page(earlier, target(), rules);
    EXPECT_FALSE(before.found);
    EXPECT_TRUE(before.exhausted);

    page.messages.pop_back();
    s = scan_page(page, target(), rules);
    EXPECT_FALSE(s.exhausted) << "an older page may still hold it";
    page.has_more = false;
    page.next_cursor.reset();
    EXPECT_TRUE(scan_page(page, target(), rules).exhausted);
}

TEST(ReconcilePolicy, AFoundCrashLeftAttemptSendsItsJobWithoutARequest) {
    store::claimed_job j;
    j.id = 7;
    j.attempt = 3;
    j.unsettled = store::unsettled_attempt{.n = 2, .started_at = t0};
    const api::message_details m = listed("c", "+33612345678", "2026-11-22T10:01:00Z");
    const store::job_result r = sent_by_earlier(j, m, t0 + 1h);
    EXPECT_EQ(r.attempt.job_id, 7);
    EXPECT_EQ(r.attempt.n, 3) << "the claim it answers";
    EXPECT_FALSE(r.attempt.counted);
    EXPECT_EQ(r.new_state, job_state::sent);
    EXPECT_EQ(r.attempt.message_id, "c");
    EXPECT_EQ(r.attempt.finished_at, t0 + 60s) << "sent when the message was created";
    EXPECT_EQ(r.instance_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    ASSERT_TRUE(r.settles);
    EXPECT_EQ(r.settles->n, 2);
    EXPECT_EQ(r.settles->outcome, settle_outcome::found);
}

TEST(ReconcilePolicy, SettlingFoundTurnsTheRetryIntoASendWithThatMessage) {
    store::job_result r;
    r.new_state = job_state::waiting;
    r.next_attempt_at = t0 + 2s;
    r.attempt.ambiguous = true;
    r.attempt.outcome = attempt_outcome::ambiguous;
    store::job_result not_found = r;
    api::message_details m = listed("c", "+33612345678", "2026-11-22T10:01:00Z");
    settle(r, settle_outcome::found, &m);
    EXPECT_EQ(r.new_state, job_state::sent);
    EXPECT_EQ(r.attempt.message_id, "c");
    EXPECT_EQ(r.api_status, "queued");
    EXPECT_FALSE(r.next_attempt_at);
    EXPECT_TRUE(r.count_send);
    EXPECT_TRUE(r.attempt.ambiguous) << "it stays flagged for reports";
    EXPECT_EQ(r.attempt.outcome, attempt_outcome::ambiguous);
    EXPECT_EQ(r.attempt.settled, settle_outcome::found);

    settle(not_found, settle_outcome::not_found, nullptr);
    EXPECT_EQ(not_found.new_state, job_state::waiting);
    EXPECT_EQ(not_found.attempt.settled, settle_outcome::not_found);
    EXPECT_EQ(to_string(settle_outcome::not_found), "settled-not-found");
    EXPECT_EQ(to_string(settle_outcome::found), "settled-found");
    EXPECT_EQ(to_string(settle_outcome::unresolved), "unresolved");
}

}  // namespace
}  // namespace msgflash::engine
