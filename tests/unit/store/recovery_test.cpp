// Crash recovery: jobs left inflight become ambiguous attempts (outcome crash-recovery), then go back to
// ready or are held per retry.on_ambiguous; and the read-only connection, which cannot write and sees what is
// committed while the writer runs.
#include <thread>

#include <sqlite3.h>

#include "store/schema.hpp"
#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

using StoreRecovery = store_fixture;

// Claims `n` jobs and "crashes": the store is closed with them inflight and no result recorded.
std::vector<claimed_job> crash_with_inflight(std::unique_ptr<queue_store>& s, std::size_t n) {
    EXPECT_TRUE(ingest_batch(*s, make_batch("b"), n + 2));
    auto c = claim(*s, "shop", n);
    EXPECT_EQ(c.jobs.size(), n);
    s.reset();
    return c.jobs;
}

TEST_F(StoreRecovery, InflightJobsAreRetriedAsAmbiguous) {
    const auto jobs = crash_with_inflight(store_, 3);
    store_options o = options_for(db_, t0 + 5min);
    o.recovery.on_ambiguous = ambiguous_action::retry;
    reopen(o);
    EXPECT_EQ(store_->recovery().inflight_found, 3u);
    EXPECT_EQ(store_->recovery().retried, 3u);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'inflight'"), 0);
    EXPECT_EQ(
        scalar(db_,
               "SELECT count(*) FROM attempts WHERE ambiguous = 1 AND outcome = 'crash-recovery' AND n = 1 "
               "AND finished_at = " +
                   std::to_string(to_millis(t0 + 5min))),
        3);
    // Back in line, due now, flagged, the next attempt is the second.
    auto again = claim(*store_, "shop", 5, t0 + 5min);
    ASSERT_EQ(again.jobs.size(), 5u);
    std::size_t ambiguous = 0;
    for (const auto& j : again.jobs) {
        if (j.ambiguous_before) {
            ++ambiguous;
            EXPECT_EQ(j.attempt, 2);
        }
    }
    EXPECT_EQ(ambiguous, 3u);
    EXPECT_EQ(again.jobs[0].id, jobs[0].id);  // kept their place at the front
}

TEST_F(StoreRecovery, InflightJobsAreHeldWhenThePolicySaysSo) {
    crash_with_inflight(store_, 2);
    store_options o = options_for(db_, t0 + 5min);
    o.recovery.on_ambiguous = ambiguous_action::hold;
    reopen(o);
    EXPECT_EQ(store_->recovery().held, 2u);
    EXPECT_EQ(scalar(db_,
                     "SELECT count(*) FROM jobs WHERE state = 'held' AND hold_reason = 'ambiguous' "
                     "AND ambiguous = 1"),
              2);
    EXPECT_EQ(claim(*store_, "shop", 5, t0 + 5min).jobs.size(), 2u);  // only the two never claimed
    // msgflashctl retry releases them.
    auto n = store_->submit(retry_batch("b", t0 + 10min));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);
    auto back = claim(*store_, "shop", 5, t0 + 10min);
    ASSERT_EQ(back.jobs.size(), 2u);
    EXPECT_EQ(back.jobs[0].attempt, 2);
}

// A campaign job left inflight may have created its campaign: it is held whatever retry.on_ambiguous says,
// never created a second time by a retry.
TEST_F(StoreRecovery, ACampaignJobIsHeldEvenWhenThePolicyRetries) {
    ASSERT_TRUE(ingest_recipientless(*store_, make_campaign_batch("spring")));
    ASSERT_EQ(claim(*store_, "shop", 1).jobs.size(), 1u);
    store_.reset();
    store_options o = options_for(db_, t0 + 5min);
    o.recovery.on_ambiguous = ambiguous_action::retry;
    reopen(o);
    EXPECT_EQ(store_->recovery().held, 1u);
    EXPECT_EQ(store_->recovery().retried, 0u);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'held' AND hold_reason = 'ambiguous'"), 1);
    EXPECT_TRUE(claim(*store_, "shop", 5, t0 + 5min).jobs.empty());
}

TEST_F(StoreRecovery, AJobAtMaxAttemptsIsDead) {
    crash_with_inflight(store_, 1);
    store_options o = options_for(db_, t0 + 5min);
    o.recovery.max_attempts = 1;
    reopen(o);
    EXPECT_EQ(store_->recovery().dead, 1u);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'dead'"), 1);
}

// The claim after a crash says which attempt the crash left unsettled, so the engine can ask the account's
// messages before sending; the answer settles that attempt.
TEST_F(StoreRecovery, AClaimCarriesTheCrashLeftAttemptUntilItIsSettled) {
    crash_with_inflight(store_, 2);
    reopen(options_for(db_, t0 + 5min));
    auto c = claim(*store_, "shop", 4, t0 + 5min);
    ASSERT_EQ(c.jobs.size(), 4u);
    std::vector<claimed_job> crashed;
    for (const claimed_job& j : c.jobs) {
        EXPECT_EQ(j.unsettled.has_value(), j.ambiguous_before);
        if (j.unsettled) {
            EXPECT_EQ(j.unsettled->n, 1);
            EXPECT_EQ(j.unsettled->started_at, t0);  // when the crashed claim began
            crashed.push_back(j);
        }
    }
    ASSERT_EQ(crashed.size(), 2u);

    // Found: sent with the earlier attempt's message; this claim made no request and counts none.
    job_result found = sent_result(crashed[0], t0 + 5min);
    found.attempt.message_id = "msg-earlier";
    found.attempt.counted = false;
    found.settles = earlier_settlement{.n = 1, .outcome = settle_outcome::found};
    found.instance_id = "inst-found";
    ASSERT_TRUE(store_->submit(record_result{found}));
    const std::string job0 = std::to_string(crashed[0].id);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts WHERE job_id = " + job0), 1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts WHERE job_id = " + job0 +
                              " AND n = 1 AND settled = 'settled-found' AND message_id = 'msg-earlier'"),
              1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE id = " + job0 +
                              " AND state = 'sent' AND attempts = 1 AND message_id = 'msg-earlier'"),
              1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM deliveries WHERE job_id = " + job0), 1);
    EXPECT_EQ(scalar(db_,
                     "SELECT sum(count) FROM number_counters WHERE instance_id = 'inst-found' AND "
                     "window_kind = 'day'"),
              1);

    // Not found: the claim's own send goes, and its result records the earlier attempt's outcome.
    job_result sent = sent_result(crashed[1], t0 + 5min);
    sent.settles = earlier_settlement{.n = 1, .outcome = settle_outcome::not_found};
    ASSERT_TRUE(store_->submit(record_result{sent}));
    const std::string job1 = std::to_string(crashed[1].id);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts WHERE job_id = " + job1 +
                              " AND n = 1 AND settled = 'settled-not-found' AND message_id IS NULL"),
              1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts WHERE job_id = " + job1 +
                              " AND n = 2 AND outcome = "
                              "'sent'"),
              1);
}

TEST_F(StoreRecovery, AnUnsettledCrashAttemptStaysOnTheJobWhenItsClaimIsGivenBack) {
    crash_with_inflight(store_, 1);
    reopen(options_for(db_, t0 + 5min));
    auto c = claim(*store_, "shop", 1, t0 + 5min);
    ASSERT_EQ(c.jobs.size(), 1u);
    ASSERT_TRUE(c.jobs[0].unsettled);
    ASSERT_TRUE(store_->submit(unclaim_job{unclaim_request{.job_id = c.jobs[0].id,
                                                           .attempt = c.jobs[0].attempt,
                                                           .new_state = job_state::ready,
                                                           .next_attempt_at = std::nullopt,
                                                           .now = t0 + 6min,
                                                           .hold = std::nullopt}}));
    auto again = claim(*store_, "shop", 1, t0 + 6min);
    ASSERT_EQ(again.jobs.size(), 1u);
    ASSERT_TRUE(again.jobs[0].unsettled);
    EXPECT_EQ(again.jobs[0].unsettled->n, 1);
    EXPECT_EQ(again.jobs[0].attempt, 2);
}

// Two crashes in a row, the job claimed in between: its claim reaches back to the first crash's claim, and
// the one result settles both.
TEST_F(StoreRecovery, TwoCrashesInARowAreSettledTogetherFromTheOldest) {
    crash_with_inflight(store_, 1);
    reopen(options_for(db_, t0 + 5min));
    auto between = claim(*store_, "shop", 1, t0 + 5min);
    ASSERT_EQ(between.jobs.size(), 1u);
    ASSERT_TRUE(between.jobs[0].unsettled);
    store_.reset();
    reopen(options_for(db_, t0 + 10min));
    auto c = claim(*store_, "shop", 1, t0 + 10min);
    ASSERT_EQ(c.jobs.size(), 1u);
    ASSERT_TRUE(c.jobs[0].unsettled);
    EXPECT_EQ(c.jobs[0].attempt, 3);
    EXPECT_EQ(c.jobs[0].unsettled->n, 2);
    EXPECT_EQ(c.jobs[0].unsettled->started_at, t0) << "the search must reach the first crashed claim";
    job_result found = sent_result(c.jobs[0], t0 + 10min);
    found.attempt.counted = false;
    found.settles = earlier_settlement{.n = 2, .outcome = settle_outcome::found};
    ASSERT_TRUE(store_->submit(record_result{found}));
    EXPECT_EQ(scalar(db_,
                     "SELECT count(*) FROM attempts WHERE outcome = 'crash-recovery' AND settled = "
                     "'settled-found'"),
              2);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 2);
}

TEST_F(StoreRecovery, AFoundEarlierAttemptMustMakeTheJobSentWithoutCountingOne) {
    crash_with_inflight(store_, 1);
    reopen(options_for(db_, t0 + 5min));
    auto c = claim(*store_, "shop", 1, t0 + 5min);
    ASSERT_EQ(c.jobs.size(), 1u);
    job_result r = sent_result(c.jobs[0], t0 + 5min);  // counted: the claim would count an attempt
    r.settles = earlier_settlement{.n = 1, .outcome = settle_outcome::found};
    auto refused = store_->submit(record_result{r});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(store_errc::invalid_argument));
    r.attempt.counted = false;
    r.settles->n = c.jobs[0].attempt;  // not an earlier attempt
    refused = store_->submit(record_result{r});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(store_errc::invalid_argument));
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'inflight'"), 1);

    // Once settled (not found, retried), no crash-left attempt is left to hold a message found later.
    job_result retry = sent_result(c.jobs[0], t0 + 5min);
    retry.new_state = job_state::ready;
    retry.attempt.outcome = attempt_outcome::retry;
    retry.attempt.message_id.clear();
    retry.settles = earlier_settlement{.n = 1, .outcome = settle_outcome::not_found};
    ASSERT_TRUE(store_->submit(record_result{retry}));
    auto again = claim(*store_, "shop", 1, t0 + 6min);
    ASSERT_EQ(again.jobs.size(), 1u);
    EXPECT_FALSE(again.jobs[0].unsettled);
    job_result late = sent_result(again.jobs[0], t0 + 6min);
    late.attempt.counted = false;
    late.settles = earlier_settlement{.n = 1, .outcome = settle_outcome::found};
    refused = store_->submit(record_result{late});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(store_errc::stale_result));
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'inflight'"), 1);
}

TEST_F(StoreRecovery, NothingInflightNothingToDo) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    reopen(options_for(db_));
    EXPECT_EQ(store_->recovery().inflight_found, 0u);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 0);
}

using StoreReader = store_fixture;

TEST_F(StoreReader, CannotWrite) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    char* err = nullptr;
    const int rc = ::sqlite3_exec(reader->handle(), "UPDATE jobs SET state = 'sent'", nullptr, nullptr, &err);
    ::sqlite3_free(err);
    EXPECT_NE(rc, SQLITE_OK);
    EXPECT_TRUE((rc & 0xff) == SQLITE_READONLY || rc == SQLITE_ERROR) << rc;
    EXPECT_EQ(::sqlite3_db_readonly(reader->handle(), "main"), 1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'sent'"), 0);
}

TEST_F(StoreReader, SeesCommittedDataWhileTheWriterRuns) {
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    ASSERT_TRUE(reader->batches());
    EXPECT_TRUE(reader->batches()->empty());
    EXPECT_EQ(*reader->schema_version(), current_schema_version);

    // The writer works on, in another thread, while the reader keeps reading.
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; i < 20 && !stop; ++i) {
            ASSERT_TRUE(
                ingest_batch(*store_, make_batch("b" + std::to_string(i)), 50, t0, "+3" + std::to_string(i)));
            for (const auto& j : claim(*store_, "shop", 20).jobs) {
                ASSERT_TRUE(store_->submit(record_result{sent_result(j)}));
            }
        }
    });
    std::int64_t last_total = 0;
    for (int i = 0; i < 50; ++i) {
        auto shape = reader->shape();
        ASSERT_TRUE(shape) << shape.error().message();
        if (!shape->empty()) {
            const batch_counts& c = (*shape)[0].counts;
            // One consistent snapshot: every job is in exactly one state, totals only grow.
            EXPECT_EQ(c.total, c.ready + c.inflight + c.sent + c.waiting + c.held);
            EXPECT_GE(c.total, last_total);
            last_total = c.total;
        }
        std::this_thread::sleep_for(2ms);
    }
    writer.join();
    auto shape = reader->shape();
    ASSERT_TRUE(shape);
    ASSERT_EQ(shape->size(), 1u);
    EXPECT_EQ((*shape)[0].counts.total, 1'000);
    EXPECT_EQ((*shape)[0].counts.sent, 400);
    auto b = reader->batch("b3");
    ASSERT_TRUE(b && *b);
    EXPECT_EQ((*b)->counts.total, 50);
    auto jobs = reader->jobs("b3", job_state::sent, {}, 100);
    ASSERT_TRUE(jobs);
    auto page = reader->jobs("b3", std::nullopt, {}, 30);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->size(), 30u);
    auto next = reader->jobs("b3", std::nullopt, page->back().ref, 30);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->size(), 20u);
    EXPECT_EQ(*reader->integrity_check(), "ok");
}

}  // namespace
}  // namespace msgflash::store::test
