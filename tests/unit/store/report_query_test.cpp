// The read-only side of reports (SPEC §7): finished batches, how far their deliveries are reconciled, and a
// batch's report rows page by page (each row once, in ref order), with the ambiguous flag and the one place
// where a settled ambiguity is read.
#include <algorithm>

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

using StoreReports = store_fixture;

TEST_F(StoreReports, RowsComePageByPageInRefOrderEachOnce) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("big"), 25));
    auto c = claim(*store_, "shop", 25);
    ASSERT_EQ(c.jobs.size(), 25u);
    // The first job's attempt is ambiguous (no answer), not found among the account's messages, retried, then
    // sent: settled. The second's is ambiguous and unresolved (the list could not be read): not settled.
    job_result amb;
    amb.attempt.job_id = c.jobs[0].id;
    amb.attempt.n = c.jobs[0].attempt;
    amb.attempt.started_at = t0;
    amb.attempt.finished_at = t0 + 15s;
    amb.attempt.ambiguous = true;
    amb.attempt.outcome = attempt_outcome::ambiguous;
    amb.attempt.settled = settle_outcome::not_found;
    amb.new_state = job_state::ready;
    amb.now = t0 + 15s;
    ASSERT_TRUE(store_->submit(record_result{amb}));
    job_result unresolved = sent_result(c.jobs[1]);
    unresolved.attempt.ambiguous = true;
    unresolved.attempt.settled = settle_outcome::unresolved;
    ASSERT_TRUE(store_->submit(record_result{unresolved}));
    for (std::size_t i = 2; i < c.jobs.size(); ++i) {
        ASSERT_TRUE(store_->submit(record_result{sent_result(c.jobs[i])}));
    }
    auto again = claim(*store_, "shop", 1, t0 + 20s);
    ASSERT_EQ(again.jobs.size(), 1u);
    ASSERT_TRUE(store_->submit(record_result{sent_result(again.jobs[0], t0 + 20s)}));
    ASSERT_TRUE(store_->submit(collect_finished_batches{.now = t0 + 1min}));

    auto reader = queue_reader::open({.path = db_});
    ASSERT_TRUE(reader);
    auto finished = reader->finished_batches();
    ASSERT_TRUE(finished);
    ASSERT_EQ(finished->size(), 1u);
    EXPECT_EQ((*finished)[0].id, "big");
    EXPECT_EQ((*finished)[0].counts.sent, 25);
    EXPECT_EQ((*finished)[0].finished_at, t0 + 1min);
    auto progress = reader->deliveries_of((*finished)[0].rowid);
    ASSERT_TRUE(progress);
    EXPECT_EQ(progress->tracked, 25);
    EXPECT_EQ(progress->unsettled, 25);
    EXPECT_FALSE(progress->last_checked);

    report_cursor cursor(*reader, (*finished)[0].rowid, 10);
    std::vector<report_row> all;
    std::size_t pages = 0;
    for (;;) {
        auto page = cursor.next();
        ASSERT_TRUE(page) << page.error().message();
        if (page->empty()) {
            break;
        }
        EXPECT_LE(page->size(), 10u);
        ++pages;
        all.insert(all.end(), page->begin(), page->end());
    }
    EXPECT_EQ(pages, 3u);
    ASSERT_EQ(all.size(), 25u);
    for (std::size_t i = 1; i < all.size(); ++i) {
        EXPECT_LT(all[i - 1].ref, all[i].ref);
    }
    const auto first =
        std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.ref == c.jobs[0].ref; });
    ASSERT_NE(first, all.end());
    EXPECT_TRUE(first->ambiguous);
    EXPECT_TRUE(first->ambiguous_settled);
    EXPECT_EQ(first->attempts, 2);
    EXPECT_EQ(first->sent_at, t0 + 20s + 120ms);
    EXPECT_TRUE(first->delivery_tracked);
    EXPECT_FALSE(first->delivery_settled);
    const auto second =
        std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.ref == c.jobs[1].ref; });
    ASSERT_NE(second, all.end());
    EXPECT_TRUE(second->ambiguous);
    EXPECT_FALSE(second->ambiguous_settled);
    EXPECT_EQ(std::count_if(all.begin(), all.end(), [](const auto& r) { return r.ambiguous; }), 2);
}

}  // namespace
}  // namespace msgflash::store::test
