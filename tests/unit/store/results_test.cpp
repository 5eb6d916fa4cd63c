// Results, attempts, holds from answers, unclaims, retries of dead jobs, per-number counters (surviving a
// restart), delivery reconciliation rows, finished batches.
#include <future>

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

using StoreResults = store_fixture;

TEST_F(StoreResults, SentRecordsTheAttemptTheMessageAndTheDelivery) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    auto c = claim(*store_, "shop", 1);
    ASSERT_EQ(c.jobs.size(), 1u);
    auto state = store_->submit(record_result{sent_result(c.jobs[0])});
    ASSERT_TRUE(state) << state.error().message();
    EXPECT_EQ(*state, job_state::sent);
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto job = reader->job(c.jobs[0].id);
    ASSERT_TRUE(job && *job);
    EXPECT_EQ((*job)->state, job_state::sent);
    EXPECT_EQ((*job)->message_id, "msg-" + std::to_string(c.jobs[0].id));
    EXPECT_EQ((*job)->api_status, "queued");
    EXPECT_EQ((*job)->sent_at, t0 + 120ms);
    auto attempts = reader->attempts(c.jobs[0].id);
    ASSERT_TRUE(attempts);
    ASSERT_EQ(attempts->size(), 1u);
    EXPECT_EQ((*attempts)[0].n, 1);
    EXPECT_EQ((*attempts)[0].http_status, 200u);
    EXPECT_EQ((*attempts)[0].latency_ms, 120);
    EXPECT_EQ((*attempts)[0].outcome, attempt_outcome::sent);
    // Reconciliation picks it up, leased so that it is not handed out twice.
    auto due = store_->submit(
        claim_deliveries{.account = "shop", .now = t0 + 1s, .limit = 10, .lease_until = t0 + 1min});
    ASSERT_TRUE(due);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].message_id, "msg-" + std::to_string(c.jobs[0].id));
    auto again = store_->submit(
        claim_deliveries{.account = "shop", .now = t0 + 2s, .limit = 10, .lease_until = t0 + 1min});
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
    ASSERT_TRUE(store_->submit(record_delivery{delivery_update{.job_id = c.jobs[0].id,
                                                               .status = "delivered",
                                                               .status_at = t0 + 5s,
                                                               .checked_at = t0 + 1min,
                                                               .settled = "delivered"}}));
    EXPECT_EQ(text_scalar(db_, "SELECT settled FROM deliveries"), "delivered");
    EXPECT_FALSE(store_->submit(record_delivery{delivery_update{.job_id = 999'999, .checked_at = t0}}));
}

// A campaign job's delivery row is of kind campaign, and each check's counts replace its batch's
// campaign_stats, which the reader gives with the batch's delivery progress.
TEST_F(StoreResults, ACampaignJobsStatsAreKeptForItsBatch) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 1));
    auto c = claim(*store_, "shop", 1);
    ASSERT_EQ(c.jobs.size(), 1u);
    job_result r = sent_result(c.jobs[0]);
    r.delivery = delivery_kind::campaign;
    ASSERT_TRUE(store_->submit(record_result{r}));
    auto due = store_->submit(
        claim_deliveries{.account = "shop", .now = t0 + 1s, .limit = 10, .lease_until = t0 + 1min});
    ASSERT_TRUE(due);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_TRUE((*due)[0].campaign);
    const std::string id = (*due)[0].message_id;
    for (std::int64_t delivered : {1, 3}) {
        const campaign_counts k{.campaign_id = id,
                                .total = 3,
                                .sent = 3 - delivered,
                                .delivered = delivered,
                                .checked_at = t0 + std::chrono::seconds(delivered)};
        ASSERT_TRUE(
            store_->submit(record_delivery{delivery_update{.job_id = c.jobs[0].id,
                                                           .status = delivered == 3 ? "completed" : "running",
                                                           .checked_at = k.checked_at,
                                                           .next_check_at = t0 + 1h,
                                                           .settled = delivered == 3 ? "completed" : "",
                                                           .campaign = k}}));
        auto reader = queue_reader::open({.path = db_});
        ASSERT_TRUE(reader);
        auto progress = reader->deliveries_of(c.jobs[0].batch_id);
        ASSERT_TRUE(progress);
        EXPECT_EQ(progress->campaign, k);
        EXPECT_EQ(progress->unsettled, delivered == 3 ? 0 : 1);
    }
    EXPECT_EQ(text_scalar(db_, "SELECT count(*) FROM campaign_stats"), "1");
    EXPECT_EQ(text_scalar(db_, "SELECT kind FROM deliveries"), "campaign");
}

TEST_F(StoreResults, AnAmbiguousAttemptKeepsHowItWasSettled) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    auto c = claim(*store_, "shop", 3);
    ASSERT_EQ(c.jobs.size(), 3u);
    // Found: the job is sent with the message the list showed. Not found: retried.
    job_result found = sent_result(c.jobs[0]);
    found.attempt.ambiguous = true;
    found.attempt.outcome = attempt_outcome::ambiguous;
    found.attempt.settled = settle_outcome::found;
    job_result missing = sent_result(c.jobs[1]);
    missing.new_state = job_state::waiting;
    missing.next_attempt_at = t0 + 1min;
    missing.attempt.message_id.clear();
    missing.attempt.ambiguous = true;
    missing.attempt.outcome = attempt_outcome::ambiguous;
    missing.attempt.settled = settle_outcome::not_found;
    ASSERT_TRUE(store_->submit(record_result{found}));
    ASSERT_TRUE(store_->submit(record_result{missing}));
    ASSERT_TRUE(store_->submit(record_result{sent_result(c.jobs[2])}));
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto a0 = reader->attempts(c.jobs[0].id);
    ASSERT_TRUE(a0 && a0->size() == 1u);
    EXPECT_EQ((*a0)[0].settled, settle_outcome::found);
    EXPECT_TRUE((*a0)[0].ambiguous);
    auto a1 = reader->attempts(c.jobs[1].id);
    ASSERT_TRUE(a1 && a1->size() == 1u);
    EXPECT_EQ((*a1)[0].settled, settle_outcome::not_found);
    auto job = reader->job(c.jobs[0].id);
    ASSERT_TRUE(job && *job);
    EXPECT_EQ((*job)->state, job_state::sent);
    EXPECT_TRUE((*job)->ambiguous) << "flagged for reports";
    store_.reset();
    EXPECT_EQ(text_scalar(db_, "SELECT settled FROM attempts WHERE job_id = " + std::to_string(c.jobs[0].id)),
              "settled-found");
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts WHERE settled IS NULL"), 1);  // the plain send
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM deliveries"), 2);                      // found is reconciled
}

TEST_F(StoreResults, ReconcileNowMakesTheUnsettledDeliveriesDue) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("a"), 2));
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 4);
    ASSERT_EQ(c.jobs.size(), 4u);
    for (const claimed_job& j : c.jobs) {
        job_result r = sent_result(j);
        r.reconcile_at = t0 + 1h;
        ASSERT_TRUE(store_->submit(record_result{r}));
    }
    auto due = store_->submit(
        claim_deliveries{.account = "shop", .now = t0 + 1s, .limit = 10, .lease_until = t0 + 1min});
    ASSERT_TRUE(due);
    EXPECT_TRUE(due->empty());
    // Batch a's jobs; one is settled already: it is never made due again.
    std::vector<std::int64_t> of_a;
    {
        auto reader = queue_reader::open({.path = db_});
        ASSERT_TRUE(reader);
        auto a = reader->batch("a");
        ASSERT_TRUE(a && *a);
        for (const claimed_job& j : c.jobs) {
            if (j.batch_id == (*a)->rowid) {
                of_a.push_back(j.id);
            }
        }
    }
    ASSERT_EQ(of_a.size(), 2u);
    ASSERT_TRUE(store_->submit(record_delivery{delivery_update{
        .job_id = of_a[0], .status = "read", .status_at = t0, .checked_at = t0 + 1s, .settled = "read"}}));
    auto batch_a = store_->submit(make_deliveries_due{.batch = "a", .now = t0 + 2s});
    ASSERT_TRUE(batch_a) << batch_a.error().message();
    EXPECT_EQ(*batch_a, 1u);
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto backlog = reader->deliveries_backlog(t0 + 5s);
    ASSERT_TRUE(backlog) << backlog.error().message();
    ASSERT_EQ(backlog->size(), 1u);
    EXPECT_EQ((*backlog)[0].account, "shop");
    EXPECT_EQ((*backlog)[0].unsettled, 3);
    EXPECT_EQ((*backlog)[0].due, 1);
    EXPECT_EQ((*backlog)[0].oldest_due, t0 + 2s);
    auto claimed = store_->submit(
        claim_deliveries{.account = "shop", .now = t0 + 5s, .limit = 10, .lease_until = t0 + 1min});
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 1u);
    EXPECT_EQ((*claimed)[0].job_id, of_a[1]);
    auto unknown = store_->submit(make_deliveries_due{.batch = "nope", .now = t0 + 6s});
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, make_error_code(store_errc::not_found));
    // Every batch, the leased one included.
    auto all = store_->submit(make_deliveries_due{.batch = {}, .now = t0 + 6s});
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, 3u);
    auto none = reader->deliveries_backlog(t0 + 6s);
    ASSERT_TRUE(none);
    EXPECT_EQ((*none)[0].due, 3);
}

TEST_F(StoreResults, ResultsOfOneGroupRunTogetherEachWithItsOwnVerdict) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 40));
    auto c = claim(*store_, "shop", 40);
    ASSERT_EQ(c.jobs.size(), 40u);
    // Hold the writer so that the results below form one group.
    std::promise<void> gate;
    std::promise<void> running;
    store_->async_submit(
        [&](write_context&) {
            running.set_value();
            gate.get_future().wait();
        },
        [](store_result<void>) {});
    running.get_future().wait();
    const auto before = store_->stats();
    std::vector<std::future<store_result<job_state>>> verdicts;
    auto submit = [&](job_result r) {
        auto p = std::make_shared<std::promise<store_result<job_state>>>();
        verdicts.push_back(p->get_future());
        store_->async_submit(record_result{std::move(r)},
                             [p](store_result<job_state> v) { p->set_value(std::move(v)); });
    };
    for (std::size_t i = 0; i < 36; ++i) {
        job_result r = sent_result(c.jobs[i]);
        if (i == 5) {
            r.attempt.n = 7;  // stale
        }
        if (i == 9) {
            r.new_state = job_state::waiting;  // a retry, in the same run
            r.next_attempt_at = t0 + 1min;
            r.attempt.message_id.clear();
        }
        submit(r);
    }
    submit(sent_result(c.jobs[0]));  // a second answer to one claim
    gate.set_value();
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
        auto v = verdicts[i].get();
        if (i == 5 || i == 36) {
            ASSERT_FALSE(v) << i;
            EXPECT_EQ(v.error().code, make_error_code(store_errc::stale_result)) << i;
        } else {
            ASSERT_TRUE(v) << i << ": " << v.error().message();
            EXPECT_EQ(*v, i == 9 ? job_state::waiting : job_state::sent);
        }
    }
    EXPECT_EQ(store_->stats().commits - before.commits, 2u);  // the gate's group, then all the results
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 35);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM deliveries"), 34);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'sent' AND message_id IS NOT NULL"), 34);
}

TEST_F(StoreResults, ARunThatFailsInsideIsRunAgainOneByOne) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    auto c = claim(*store_, "shop", 3);
    ASSERT_EQ(c.jobs.size(), 3u);
    std::promise<void> gate;
    std::promise<void> running;
    store_->async_submit(
        [&](write_context&) {
            running.set_value();
            gate.get_future().wait();
        },
        [](store_result<void>) {});
    running.get_future().wait();
    std::vector<std::future<store_result<job_state>>> verdicts;
    for (std::size_t i = 0; i < 3; ++i) {
        job_result r = sent_result(c.jobs[i]);
        if (i == 1) {
            // Passes the checks made up front, fails half-way (a hold with no subject).
            r.new_state = job_state::held;
            r.hold = hold_target{hold_scope::number, "", "", "", std::nullopt};
        }
        auto p = std::make_shared<std::promise<store_result<job_state>>>();
        verdicts.push_back(p->get_future());
        store_->async_submit(record_result{r},
                             [p](store_result<job_state> v) { p->set_value(std::move(v)); });
    }
    gate.set_value();
    EXPECT_TRUE(verdicts[0].get());
    auto bad = verdicts[1].get();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, make_error_code(store_errc::invalid_argument));
    EXPECT_TRUE(verdicts[2].get());
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 2);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE state = 'inflight'"), 1);
}

TEST_F(StoreResults, RetryWaitsAndComesBackWithTheNextAttemptNumber) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 1));
    auto c = claim(*store_, "shop", 1);
    ASSERT_EQ(c.jobs.size(), 1u);
    job_result r = sent_result(c.jobs[0]);
    r.new_state = job_state::waiting;
    r.next_attempt_at = t0 + 4s;
    r.attempt.outcome = attempt_outcome::retry;
    r.attempt.http_status = 502;
    r.attempt.api_code = "PROVIDER_TIMEOUT";
    r.attempt.message_id.clear();
    ASSERT_TRUE(store_->submit(record_result{r}));
    EXPECT_TRUE(claim(*store_, "shop", 1, t0 + 3s).jobs.empty());
    auto second = claim(*store_, "shop", 1, t0 + 4s);
    ASSERT_EQ(second.jobs.size(), 1u);
    EXPECT_EQ(second.jobs[0].attempt, 2);
    EXPECT_EQ(text_scalar(db_, "SELECT last_code FROM jobs"), "PROVIDER_TIMEOUT");
    // A result for the first attempt now is stale.
    auto stale = store_->submit(record_result{r});
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code, make_error_code(store_errc::stale_result));
}

TEST_F(StoreResults, RateLimitedIsNotAnAttemptAndGoesBackToTheFront) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    auto c = claim(*store_, "shop", 1);
    ASSERT_EQ(c.jobs.size(), 1u);
    job_result r = sent_result(c.jobs[0]);
    r.new_state = job_state::ready;
    r.attempt.outcome = attempt_outcome::rate_limited;
    r.attempt.http_status = 429;
    r.attempt.api_code = "API_RATE_LIMIT_EXCEEDED";
    r.attempt.counted = false;
    r.attempt.message_id.clear();
    r.count_send = false;
    ASSERT_TRUE(store_->submit(record_result{r}));
    auto again = claim(*store_, "shop", 1);
    ASSERT_EQ(again.jobs.size(), 1u);
    EXPECT_EQ(again.jobs[0].id, c.jobs[0].id);  // the front of the line
    EXPECT_EQ(again.jobs[0].attempt, 1);        // no attempt consumed
}

TEST_F(StoreResults, AnswerThatHoldsTheNumberHoldsTheJobWithoutAnAttempt) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 1);
    job_result r = sent_result(c.jobs[0]);
    r.new_state = job_state::held;
    r.attempt.outcome = attempt_outcome::held;
    r.attempt.http_status = 403;
    r.attempt.api_code = "INSTANCE_NOT_ASSIGNED";
    r.attempt.counted = false;
    r.attempt.message_id.clear();
    r.hold =
        hold_target{hold_scope::number, c.jobs[0].instance_id, "configuration", "INSTANCE_NOT_ASSIGNED", {}};
    auto st = store_->submit(record_result{r});
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(*st, job_state::held);
    // The other job of that number is held when a claim meets it.
    auto next = claim(*store_, "shop", 5);
    EXPECT_TRUE(next.jobs.empty());
    EXPECT_EQ(next.held, 1u);
    auto rel = store_->submit(release_hold(hold_scope::number, c.jobs[0].instance_id, t0 + 1min));
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->jobs_resumed, 2u);
    auto back = claim(*store_, "shop", 5, t0 + 1min);
    ASSERT_EQ(back.jobs.size(), 2u);
    for (const auto& j : back.jobs) {
        EXPECT_EQ(j.attempt, 1);
    }
}

TEST_F(StoreResults, AnAmbiguousAttemptMayHoldItsJobAloneUntilTheOperatorRetriesIt) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 1);
    ASSERT_EQ(c.jobs.size(), 1u);
    job_result r = sent_result(c.jobs[0]);
    r.new_state = job_state::held;  // retry.on_ambiguous = "hold": no hold row, the job alone
    r.attempt.outcome = attempt_outcome::ambiguous;
    r.attempt.ambiguous = true;
    r.attempt.http_status = 0;
    r.attempt.message_id.clear();
    r.count_send = false;
    auto st = store_->submit(record_result{r});
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(*st, job_state::held);
    EXPECT_EQ(text_scalar(db_, "SELECT hold_reason FROM jobs WHERE id = " + std::to_string(c.jobs[0].id)),
              ambiguous_hold_reason);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM holds"), 0);
    // The batch's other job goes on; the held one waits for the operator.
    auto next = claim(*store_, "shop", 5, t0 + 1min);
    ASSERT_EQ(next.jobs.size(), 1u);
    EXPECT_NE(next.jobs[0].id, c.jobs[0].id);
    auto n = store_->submit(retry_batch("b", t0 + 2min));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
    auto back = claim(*store_, "shop", 5, t0 + 2min);
    ASSERT_EQ(back.jobs.size(), 1u);
    EXPECT_EQ(back.jobs[0].id, c.jobs[0].id);
    EXPECT_TRUE(back.jobs[0].ambiguous_before);
}

TEST_F(StoreResults, InvalidResultsAreRefusedAndChangeNothing) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 1));
    auto c = claim(*store_, "shop", 1);
    job_result r = sent_result(c.jobs[0]);
    r.new_state = job_state::waiting;  // without next_attempt_at
    EXPECT_EQ(store_->submit(record_result{r}).error().code, make_error_code(store_errc::invalid_argument));
    r.new_state = job_state::held;  // without a hold, and not ambiguous
    EXPECT_EQ(store_->submit(record_result{r}).error().code, make_error_code(store_errc::invalid_argument));
    r.new_state = job_state::inflight;
    EXPECT_EQ(store_->submit(record_result{r}).error().code, make_error_code(store_errc::invalid_transition));
    r = sent_result(c.jobs[0]);
    r.attempt.job_id = 123'456;
    EXPECT_EQ(store_->submit(record_result{r}).error().code, make_error_code(store_errc::not_found));
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 0);
    // Several in one operation: each its own verdict.
    auto many = store_->submit(record_results{{sent_result(c.jobs[0]), r}});
    ASSERT_TRUE(many);
    ASSERT_EQ(many->size(), 2u);
    EXPECT_TRUE((*many)[0]);
    EXPECT_FALSE((*many)[1]);
}

TEST_F(StoreResults, UnclaimGivesTheJobBackWithoutAnAttempt) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 1));
    auto c = claim(*store_, "shop", 1);
    auto st = store_->submit(unclaim_job{unclaim_request{.job_id = c.jobs[0].id,
                                                         .attempt = 1,
                                                         .new_state = job_state::waiting,
                                                         .next_attempt_at = t0 + 8h,
                                                         .now = t0}});
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, job_state::waiting);
    EXPECT_TRUE(claim(*store_, "shop", 1, t0 + 7h).jobs.empty());
    auto back = claim(*store_, "shop", 1, t0 + 8h);
    ASSERT_EQ(back.jobs.size(), 1u);
    EXPECT_EQ(back.jobs[0].attempt, 1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 0);
}

TEST_F(StoreResults, AJobGivenBackOnANumbersHoldWaitsForItsReleaseWithoutAnAttempt) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 2);
    ASSERT_EQ(c.jobs.size(), 2u);
    const hold_target disconnected{
        hold_scope::number, "7c9e6679-7425-40de-944b-e07fc1f90ae7", "disconnected", "disconnected", {}};
    for (const auto& j : c.jobs) {
        auto st = store_->submit(unclaim_job{unclaim_request{
            .job_id = j.id, .attempt = 1, .new_state = job_state::held, .now = t0, .hold = disconnected}});
        ASSERT_TRUE(st) << st.error().message();
        EXPECT_EQ(*st, job_state::held);
    }
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM holds WHERE released_at IS NULL"), 1) << "one hold for both";
    EXPECT_EQ(text_scalar(db_, "SELECT DISTINCT hold_reason FROM jobs"), "disconnected");
    EXPECT_TRUE(claim(*store_, "shop", 5, t0 + 1min).jobs.empty());
    auto rel = store_->submit(release_hold(hold_scope::number, disconnected.subject, t0 + 2min));
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->jobs_resumed, 2u);
    auto back = claim(*store_, "shop", 5, t0 + 2min);
    ASSERT_EQ(back.jobs.size(), 2u);
    EXPECT_EQ(back.jobs[0].attempt, 1) << "being held used an attempt";
    // Held without a hold to wait on is refused.
    auto refused = store_->submit(unclaim_job{
        unclaim_request{.job_id = back.jobs[0].id, .attempt = 1, .new_state = job_state::held, .now = t0}});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(store_errc::invalid_argument));
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 0);
}

TEST_F(StoreResults, DeadJobsAreRetriedByTheOperator) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 2);
    for (const auto& j : c.jobs) {
        job_result r = sent_result(j);
        r.new_state = job_state::dead;
        r.attempt.outcome = attempt_outcome::retry;
        r.attempt.http_status = 503;
        r.attempt.message_id.clear();
        ASSERT_TRUE(store_->submit(record_result{r}));
    }
    auto info = store_->submit(get_batch{.id = "b"});
    EXPECT_EQ(info->counts.dead, 2);
    auto n = store_->submit(retry_batch("b", t0 + 1h));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2u);
    auto again = claim(*store_, "shop", 5, t0 + 1h);
    ASSERT_EQ(again.jobs.size(), 2u);
    EXPECT_EQ(again.jobs[0].attempt, 1);                         // a fresh budget of attempts
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM attempts"), 2);  // history kept
}

TEST_F(StoreResults, CountersSurviveReopening) {
    const std::string number = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 3));
    for (const auto& j : claim(*store_, "shop", 3).jobs) {
        ASSERT_TRUE(store_->submit(record_result{sent_result(j)}));
    }
    ASSERT_TRUE(store_->submit(add_sends{.instance_id = number, .now = t0 + 2h, .count = 4}));
    auto u = store_->submit(read_usage{.instance_id = number, .now = t0 + 2h});
    ASSERT_TRUE(u);
    EXPECT_EQ(u->this_minute, 4);
    EXPECT_EQ(u->this_hour, 4);
    EXPECT_EQ(u->this_day, 7);
    EXPECT_EQ(u->last_60_minutes, 4);
    EXPECT_EQ(u->last_24_hours, 7);

    reopen(options_for(db_, t0 + 2h));
    auto after = store_->submit(read_usage{.instance_id = number, .now = t0 + 2h});
    ASSERT_TRUE(after);
    EXPECT_EQ(after->this_day, 7);
    EXPECT_EQ(after->last_24_hours, 7);
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto ru = reader->usage(number, t0 + 2h);
    ASSERT_TRUE(ru);
    EXPECT_EQ(ru->this_day, 7);
    // The next UTC day starts from zero; old windows are pruned.
    auto tomorrow = store_->submit(read_usage{.instance_id = number, .now = t0 + 24h});
    ASSERT_TRUE(tomorrow);
    EXPECT_EQ(tomorrow->this_day, 0);
    auto pruned = store_->submit(prune_counters{.now = t0 + 72h});
    ASSERT_TRUE(pruned);
    EXPECT_EQ(*pruned, 4u);  // two minute windows, two hour windows
}

TEST_F(StoreResults, FinishedBatchesAreCollectedOnce) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 2));
    auto c = claim(*store_, "shop", 2);
    auto none = store_->submit(collect_finished_batches{.now = t0});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    for (const auto& j : c.jobs) {
        ASSERT_TRUE(store_->submit(record_result{sent_result(j)}));
    }
    auto done = store_->submit(collect_finished_batches{.now = t0 + 1s});
    ASSERT_TRUE(done);
    EXPECT_EQ(*done, std::vector<std::string>{"b"});
    auto again = store_->submit(collect_finished_batches{.now = t0 + 2s});
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
}

TEST_F(StoreResults, ExpiryEndsPendingJobsOfExpiredBatches) {
    auto b = make_batch("b");
    b.expires_at = t0 + 1h;
    b.send_at = t0 + 30min;
    ASSERT_TRUE(ingest_batch(*store_, b, 10));
    auto n = store_->submit(expire_due(t0 + 59min));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u);
    n = store_->submit(expire_due(t0 + 1h));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 10u);
    auto info = store_->submit(get_batch{.id = "b"});
    EXPECT_EQ(info->counts.expired, 10);
}

}  // namespace
}  // namespace msgflash::store::test
