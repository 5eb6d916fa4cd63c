// Claims: priority, fairness across an account's batches, age; the query plan (an index range scan whatever
// the queue's size); inflight is durable before the caller hears of it; what claims do with jobs that are not
// due, expired, or whose batch, number or key is held.
#include <future>
#include <set>

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

using StoreClaim = store_fixture;

std::vector<std::string> plan_of(const std::filesystem::path& db, const char* sql) {
    connection c = raw_reader(db);
    statement s(c.get(), std::string("EXPLAIN QUERY PLAN ") + sql);
    std::vector<std::string> details;
    while (s.step()) {
        details.push_back(s.str(3));
    }
    return details;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += s + "; ";
    }
    return out;
}

void expect_index_range_scan(const std::filesystem::path& db) {
    const auto claim = plan_of(db, claim_candidates_sql());
    const std::string all = joined(claim);
    EXPECT_NE(all.find("SEARCH jobs USING INDEX jobs_claim (account_id=?)"), std::string::npos) << all;
    EXPECT_EQ(all.find("SCAN"), std::string::npos) << all;
    EXPECT_EQ(all.find("TEMP B-TREE"), std::string::npos) << all;

    const auto promote = plan_of(db, promote_due_sql());
    const std::string p = joined(promote);
    EXPECT_NE(p.find("USING INDEX jobs_due (account_id=? AND next_attempt_at<?)"), std::string::npos) << p;
    EXPECT_EQ(p.find("SCAN jobs"), std::string::npos) << p;
    EXPECT_EQ(p.find("TEMP B-TREE"), std::string::npos) << p;
}

TEST_F(StoreClaim, QueryPlanIsAnIndexRangeScanEmptyAndWith100kJobs) {
    expect_index_range_scan(db_);
    ASSERT_TRUE(ingest_batch(*store_, make_batch("big"), 100'000));
    auto later = make_batch("later");
    later.send_at = t0 + 1h;
    ASSERT_TRUE(ingest_batch(*store_, later, 1'000, t0, "+4479"));
    expect_index_range_scan(db_);
    // Statistics (ANALYZE, PRAGMA optimize) must not change the plan.
    ASSERT_TRUE(store_->submit([](write_context& w) { w.exec("ANALYZE"); }));
    expect_index_range_scan(db_);
    // And the claim works at that size.
    EXPECT_EQ(claim(*store_, "shop", 50).jobs.size(), 50u);
}

TEST_F(StoreClaim, HigherPriorityFirst) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("low", "shop", 0), 5, t0, "+331"));
    ASSERT_TRUE(ingest_batch(*store_, make_batch("high", "shop", 10), 5, t0, "+332"));
    auto r = claim(*store_, "shop", 7);
    ASSERT_EQ(r.jobs.size(), 7u);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(r.jobs[i].priority, 10);
    }
    EXPECT_EQ(r.jobs[5].priority, 0);
}

TEST_F(StoreClaim, ASmallBatchIsNotStuckBehindABigOne) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("A"), 10'000, t0, "+331"));
    ASSERT_TRUE(ingest_batch(*store_, make_batch("B"), 10, t0 + 1s, "+332"));
    auto b_rowid = store_->submit(get_batch{.id = "B"});
    ASSERT_TRUE(b_rowid);
    std::size_t b_claimed = 0;
    std::size_t claims = 0;
    while (b_claimed < 10 && claims < 10'010) {
        auto r = claim(*store_, "shop", 1, t0 + 2s);
        ASSERT_EQ(r.jobs.size(), 1u);
        ++claims;
        if (r.jobs[0].batch_id == b_rowid->rowid) {
            ++b_claimed;
        }
    }
    EXPECT_EQ(b_claimed, 10u);
    EXPECT_LE(claims, 20u) << "B's jobs should interleave with A's";

    // A batch arriving after A has been dispatched for a while joins the line at the current round.
    for (int i = 0; i < 50; ++i) {
        ASSERT_EQ(claim(*store_, "shop", 100, t0 + 3s).jobs.size(), 100u);
    }
    ASSERT_TRUE(ingest_batch(*store_, make_batch("C"), 10, t0 + 4s, "+333"));
    auto c_rowid = store_->submit(get_batch{.id = "C"});
    ASSERT_TRUE(c_rowid);
    auto next = claim(*store_, "shop", 20, t0 + 5s);
    std::size_t c_in_first_20 = 0;
    for (const auto& j : next.jobs) {
        c_in_first_20 += j.batch_id == c_rowid->rowid ? 1 : 0;
    }
    EXPECT_EQ(c_in_first_20, 10u);
}

TEST_F(StoreClaim, ThenByAgeAndEachJobOnce) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("one"), 100));
    std::set<std::int64_t> seen;
    std::int64_t last_seq = 0;
    for (int i = 0; i < 10; ++i) {
        for (const auto& j : claim(*store_, "shop", 10).jobs) {
            EXPECT_TRUE(seen.insert(j.id).second);
            EXPECT_GT(j.fair_seq, last_seq);  // the file's order
            last_seq = j.fair_seq;
            EXPECT_EQ(j.attempt, 1);
        }
    }
    EXPECT_EQ(seen.size(), 100u);
    EXPECT_TRUE(claim(*store_, "shop", 10).jobs.empty());
    EXPECT_TRUE(claim(*store_, "unknown-account", 10).jobs.empty());
}

TEST_F(StoreClaim, InflightIsCommittedBeforeTheCallerHearsOfIt) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 10));
    auto r = claim(*store_, "shop", 4);
    ASSERT_EQ(r.jobs.size(), 4u);
    // Another connection (as another process would) sees them inflight with their attempt number, while the
    // writer is still open.
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    for (const auto& j : r.jobs) {
        auto info = reader->job(j.id);
        ASSERT_TRUE(info && *info);
        EXPECT_EQ((*info)->state, job_state::inflight);
        EXPECT_EQ((*info)->attempts, 1);
    }
    EXPECT_EQ(scalar(db_, "SELECT inflight FROM batch_counters"), 4);
}

TEST_F(StoreClaim, WaitingJobsArePromotedWhenDue) {
    auto b = make_batch("later");
    b.send_at = t0 + 10min;
    ASSERT_TRUE(ingest_batch(*store_, b, 5));
    EXPECT_TRUE(claim(*store_, "shop", 10, t0 + 9min).jobs.empty());
    auto r = claim(*store_, "shop", 10, t0 + 10min);
    EXPECT_EQ(r.promoted, 5u);
    EXPECT_EQ(r.jobs.size(), 5u);
}

TEST_F(StoreClaim, ExpiredJobsAreMovedAside) {
    auto b = make_batch("short");
    b.expires_at = t0 + 1h;
    ASSERT_TRUE(ingest_batch(*store_, b, 5, t0, "+331"));
    ASSERT_TRUE(ingest_batch(*store_, make_batch("long"), 3, t0, "+332"));
    auto r = claim(*store_, "shop", 10, t0 + 2h);
    EXPECT_EQ(r.expired, 5u);
    EXPECT_EQ(r.jobs.size(), 3u);
    auto info = store_->submit(get_batch{.id = "short"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.expired, 5);
}

TEST_F(StoreClaim, PausedBatchIsHeldAndResumes) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("p"), 20, t0, "+331"));
    ASSERT_TRUE(ingest_batch(*store_, make_batch("q"), 5, t0, "+332"));
    auto paused = store_->submit(pause_batch("p", t0));
    ASSERT_TRUE(paused) << paused.error().message();
    EXPECT_EQ(paused->jobs_changed, 20u);
    auto r = claim(*store_, "shop", 30);
    EXPECT_EQ(r.jobs.size(), 5u);  // only q
    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto holds = reader->active_holds();
    ASSERT_TRUE(holds);
    ASSERT_EQ(holds->size(), 1u);
    EXPECT_EQ((*holds)[0].scope, hold_scope::batch);
    EXPECT_EQ((*holds)[0].subject, "p");
    auto resumed = store_->submit(resume_batch("p", t0 + 1min));
    ASSERT_TRUE(resumed);
    EXPECT_EQ(resumed->jobs_changed, 20u);
    EXPECT_EQ(claim(*store_, "shop", 30, t0 + 1min).jobs.size(), 20u);
}

TEST_F(StoreClaim, PauseInChunksNeverLetsAJobThrough) {
    store_options o = options_for(db_);
    o.bulk_chunk_jobs = 100;  // the pause takes 10 transactions; claims run in between
    reopen(o);
    ASSERT_TRUE(ingest_batch(*store_, make_batch("p"), 1'000));
    auto done = std::make_shared<std::promise<store_result<batch_change_report>>>();
    auto paused = done->get_future();
    store_->async_submit(pause_batch("p", t0),
                         [done](store_result<batch_change_report> r) { done->set_value(std::move(r)); });
    // Every claim below was submitted after the pause began: none may take a job of p, even though most of
    // p's jobs are still `ready` until the pause's later chunks reach them.
    std::size_t claims = 0;
    std::size_t leaked = 0;
    std::size_t held_by_claims = 0;
    while (paused.wait_for(0ms) != std::future_status::ready) {
        auto r = claim(*store_, "shop", 5);
        leaked += r.jobs.size();
        held_by_claims += r.held;
        ++claims;
    }
    auto report = paused.get();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_GE(claims, 1u);
    EXPECT_EQ(leaked, 0u);
    EXPECT_EQ(report->jobs_changed + held_by_claims, 1'000u);
    EXPECT_TRUE(claim(*store_, "shop", 5).jobs.empty());
    auto info = store_->submit(get_batch{.id = "p"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.held, 1'000);
    EXPECT_EQ(info->state, batch_state::paused);
}

TEST_F(StoreClaim, CancelledBatchEndsItsPendingJobs) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("c"), 10));
    auto inflight = claim(*store_, "shop", 2);
    ASSERT_EQ(inflight.jobs.size(), 2u);
    auto r = store_->submit(cancel_batch("c", t0));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->jobs_changed, 8u);
    EXPECT_TRUE(claim(*store_, "shop", 10).jobs.empty());
    // An inflight job of a cancelled batch that would be retried ends cancelled instead.
    job_result retry = sent_result(inflight.jobs[0]);
    retry.new_state = job_state::waiting;
    retry.next_attempt_at = t0 + 1min;
    retry.attempt.outcome = attempt_outcome::retry;
    retry.attempt.http_status = 502;
    auto state = store_->submit(record_result{retry});
    ASSERT_TRUE(state);
    EXPECT_EQ(*state, job_state::cancelled);
    // One that was sent stays sent.
    auto sent = store_->submit(record_result{sent_result(inflight.jobs[1])});
    ASSERT_TRUE(sent);
    EXPECT_EQ(*sent, job_state::sent);
    EXPECT_FALSE(store_->submit(retry_batch("c", t0)));
    EXPECT_FALSE(store_->submit(pause_batch("c", t0)));
}

TEST_F(StoreClaim, HeldNumberHoldsItsJobsAsClaimsMeetThem) {
    auto other = make_batch("other-number");
    other.instance_ids = {"11111111-1111-1111-1111-111111111111"};
    ASSERT_TRUE(ingest_batch(*store_, make_batch("pinned"), 5, t0, "+331"));
    ASSERT_TRUE(ingest_batch(*store_, other, 5, t0, "+332"));
    auto h = store_->submit(
        place_hold(hold_request{hold_target{hold_scope::number, "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                            "disconnected", "", std::nullopt},
                                t0}));
    ASSERT_TRUE(h);
    auto r = claim(*store_, "shop", 10);
    EXPECT_EQ(r.jobs.size(), 5u);
    EXPECT_EQ(r.held, 5u);
    for (const auto& j : r.jobs) {
        EXPECT_EQ(j.instance_id, "11111111-1111-1111-1111-111111111111");
    }
    auto released =
        store_->submit(release_hold(hold_scope::number, "7c9e6679-7425-40de-944b-e07fc1f90ae7", t0));
    ASSERT_TRUE(released);
    EXPECT_TRUE(released->was_held);
    EXPECT_EQ(released->jobs_resumed, 5u);
    EXPECT_EQ(claim(*store_, "shop", 10).jobs.size(), 5u);
}

TEST_F(StoreClaim, HeldKeyClaimsNothingUntilReleasedOrItsTimeComes) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 5));
    ASSERT_TRUE(store_->submit(place_hold(hold_request{
        hold_target{hold_scope::key, "shop", "quota", "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", t0 + 1h}, t0})));
    auto r = claim(*store_, "shop", 5);
    EXPECT_TRUE(r.jobs.empty());
    ASSERT_TRUE(r.account_hold);
    EXPECT_EQ(r.account_hold->reason_code, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED");
    // Placing it again updates it rather than stacking another.
    ASSERT_TRUE(store_->submit(place_hold(hold_request{
        hold_target{hold_scope::key, "shop", "quota", "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", t0 + 2h}, t0})));
    EXPECT_TRUE(claim(*store_, "shop", 5, t0 + 90min).account_hold);
    auto after = claim(*store_, "shop", 5, t0 + 2h);
    EXPECT_FALSE(after.account_hold);
    EXPECT_EQ(after.jobs.size(), 5u);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM holds WHERE released_at IS NULL"), 0);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM holds"), 1);
}

TEST_F(StoreClaim, DueHoldsAreReleased) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 5));
    ASSERT_TRUE(store_->submit(place_hold(hold_request{
        hold_target{hold_scope::batch, "b", "batch-failures", "TEMPLATE_INVALID", t0 + 1h}, t0})));
    EXPECT_TRUE(claim(*store_, "shop", 5).jobs.empty());
    auto n = store_->submit(release_due_holds(t0 + 30min));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u);
    n = store_->submit(release_due_holds(t0 + 1h));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(claim(*store_, "shop", 5, t0 + 1h).jobs.size(), 5u);
}

}  // namespace
}  // namespace msgflash::store::test
