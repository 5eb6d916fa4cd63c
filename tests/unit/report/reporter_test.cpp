// The reporter over a real queue: a finished batch gets reports/<stem>.csv (one row per recipient, a hostile
// ref intact) and .summary.json; it is written again when reconciliation settles deliveries, marked final
// once every one is settled, and a final report is never rewritten — not even by a restarted reporter, which
// learns what it wrote from the summaries.
#include "report/reporter.hpp"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "report/csv.hpp"
#include "report/report_format.hpp"
#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::report {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;
using store::test::t0;

const std::string hostile_ref = "cust,42 \"VIP\"\nsecond line";
const std::string batch_name = "crm/export 2026";  // not a file name as it is

store::job_result failed_result(const store::claimed_job& j) {
    store::job_result r;
    r.attempt.job_id = j.id;
    r.attempt.n = j.attempt;
    r.attempt.started_at = t0;
    r.attempt.finished_at = t0 + 80ms;
    r.attempt.http_status = 422;
    r.attempt.api_code = "INVALID_DESTINATION";
    r.attempt.latency_ms = 80;
    r.attempt.outcome = attempt_outcome::failed;
    r.new_state = job_state::failed;
    r.now = t0 + 80ms;
    return r;
}

class Reporter : public store::test::store_fixture {
  protected:
    void SetUp() override {
        store_fixture::SetUp();
        reports_ = dir_.path() / "reports";
    }

    // Four recipients: three sent (one second apart), one refused.
    void queue_and_end_batch() {
        auto s = store_->begin_ingest(
            {.now = t0, .on_conflict = store::conflict_policy::reject_file, .source = "crm.json"});
        const auto b = s->begin_batch(store::test::make_batch(batch_name));
        for (std::size_t i = 0; i < 4; ++i) {
            job_spec j = store::test::make_job(i);
            if (i == 0) {
                j.ref = hostile_ref;
            }
            s->add_job(b, std::move(j));
        }
        ASSERT_TRUE(s->finish());
        auto c = store::test::claim(*store_, "shop", 4);
        ASSERT_EQ(c.jobs.size(), 4u);
        for (std::size_t i = 0; i < 3; ++i) {
            ASSERT_TRUE(
                store_->submit(store::record_result{store::test::sent_result(c.jobs[i], t0 + i * 1s)}));
            sent_ids_.push_back(c.jobs[i].id);
        }
        ASSERT_TRUE(store_->submit(store::record_result{failed_result(c.jobs[3])}));
    }

    void settle(std::int64_t job_id, timestamp checked_at, const std::string& status = "delivered") {
        store::delivery_update u;
        u.job_id = job_id;
        u.status = status;
        u.status_at = checked_at - 1s;
        u.checked_at = checked_at;
        u.settled = status;
        ASSERT_TRUE(store_->submit(store::record_delivery{u}));
    }

    reporter_options options() const {
        reporter_options o;
        o.reports_dir = reports_;
        o.min_rewrite_interval = 0ms;
        o.page_rows = 2;  // several pages for four rows
        o.clock = [] { return t0 + 2h; };
        return o;
    }

    std::string read(const std::string& suffix) const {
        std::ifstream in(reports_ / (file_stem(batch_name) + suffix), std::ios::binary);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    json::object summary() const { return json::parse(read(".summary.json")).as_object(); }

    fs::path reports_;
    std::vector<std::int64_t> sent_ids_;
};

TEST_F(Reporter, AFinishedBatchGetsOneRowPerRecipientAndASummary) {
    reporter r(*store_, options());
    EXPECT_EQ(r.run_once(), 0u) << "nothing has finished";
    queue_and_end_batch();
    EXPECT_EQ(r.run_once(), 1u);
    EXPECT_EQ(store::test::scalar(db_, "SELECT count(*) FROM batches WHERE finished_at IS NOT NULL"), 1);

    const auto rows = parse_csv(read(".csv"));
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0], std::vector<std::string>(columns.begin(), columns.end()));
    std::map<std::string, std::vector<std::string>> by_ref;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), columns.size());
        EXPECT_TRUE(by_ref.emplace(rows[i][0], rows[i]).second) << "twice: " << rows[i][0];
    }
    ASSERT_TRUE(by_ref.contains(hostile_ref));
    EXPECT_EQ(by_ref[hostile_ref][2], "sent");
    EXPECT_EQ(by_ref[hostile_ref][3], "msg-" + std::to_string(sent_ids_[0]));
    EXPECT_EQ(by_ref[hostile_ref][6], "2026-11-27T08:00:00Z");
    EXPECT_EQ(by_ref[hostile_ref][7], "queued");
    EXPECT_EQ(by_ref["+33611000003"][2], "failed");
    EXPECT_EQ(by_ref["+33611000003"][5], "INVALID_DESTINATION");

    const json::object s = summary();
    EXPECT_EQ(s.at("batch").as_string(), batch_name);
    EXPECT_EQ(s.at("jobs").as_int64(), 4);
    EXPECT_EQ(s.at("states").at("sent").as_int64(), 3);
    EXPECT_EQ(s.at("states").at("failed").as_int64(), 1);
    EXPECT_EQ(s.at("delivery_statuses").at("queued").as_int64(), 3);
    EXPECT_EQ(s.at("deliveries").at("unsettled").as_int64(), 3);
    EXPECT_EQ(s.at("final").as_bool(), false);
    EXPECT_EQ(s.at("mean_pace").to_number<double>(), 1.0);  // three sends over two seconds
    // No temporaries left, nothing but the two files.
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(reports_)) {
        EXPECT_NE(e.path().filename().string().front(), '.') << e.path();
        ++n;
    }
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(r.run_once(), 0u) << "nothing changed: not written again";
}

TEST_F(Reporter, RewrittenAsDeliveriesSettleThenFinalAndNeverAgain) {
    queue_and_end_batch();
    reporter r(*store_, options());
    ASSERT_EQ(r.run_once(), 1u);
    settle(sent_ids_[0], t0 + 1min);
    EXPECT_EQ(r.run_once(), 1u);
    EXPECT_EQ(summary().at("delivery_statuses").at("delivered").as_int64(), 1);
    EXPECT_EQ(summary().at("final").as_bool(), false);
    settle(sent_ids_[1], t0 + 2min, "read");
    settle(sent_ids_[2], t0 + 2min, "failed");
    EXPECT_EQ(r.run_once(), 1u);
    const json::object s = summary();
    EXPECT_EQ(s.at("final").as_bool(), true);
    EXPECT_EQ(s.at("deliveries").at("settled").as_int64(), 3);
    EXPECT_EQ(s.at("deliveries_checked_at_ms").as_int64(), to_millis(t0 + 2min));
    const auto rows = parse_csv(read(".csv"));
    ASSERT_EQ(rows.size(), 5u);
    std::set<std::string> statuses;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        statuses.insert(rows[i][7]);
    }
    EXPECT_EQ(statuses, (std::set<std::string>{"delivered", "read", "failed", ""}));

    // A final report stays as it is, whatever is checked later and whoever looks.
    store::delivery_update late;
    late.job_id = sent_ids_[0];
    late.checked_at = t0 + 3min;
    late.settled = "delivered";
    ASSERT_TRUE(store_->submit(store::record_delivery{late}));
    EXPECT_EQ(r.run_once(), 0u);
    reporter restarted(*store_, options());
    EXPECT_EQ(restarted.run_once(), 0u) << "a restarted reporter reads that the report is final";
    fs::remove(reports_ / (file_stem(batch_name) + ".summary.json"));
    reporter again(*store_, options());
    EXPECT_EQ(again.run_once(), 1u) << "a missing summary is written again";
}

TEST_F(Reporter, ANonFinalReportIsLookedAtNoMoreOftenThanItMayBeRewritten) {
    queue_and_end_batch();
    reporter_options o = options();
    o.min_rewrite_interval = 1h;
    reporter r(*store_, o);
    ASSERT_EQ(r.run_once(), 1u);
    settle(sent_ids_[0], t0 + 1min);
    EXPECT_EQ(r.run_once(), 0u) << "rewritten within min_rewrite_interval";
    EXPECT_EQ(summary().at("deliveries").at("settled").as_int64(), 0);
    reporter restarted(*store_, o);
    EXPECT_EQ(restarted.run_once(), 1u) << "a new process looks at once";
    EXPECT_EQ(summary().at("deliveries").at("settled").as_int64(), 1);
}

TEST_F(Reporter, ABatchThatSentNothingIsFinalAtOnce) {
    ASSERT_TRUE(store::test::ingest_batch(*store_, store::test::make_batch("refused"), 2));
    auto c = store::test::claim(*store_, "shop", 2);
    for (const auto& j : c.jobs) {
        ASSERT_TRUE(store_->submit(store::record_result{failed_result(j)}));
    }
    reporter r(*store_, options());
    EXPECT_EQ(r.run_once(), 1u);
    std::ifstream in(reports_ / "refused.summary.json");
    std::stringstream text;
    text << in.rdbuf();
    const json::object s = json::parse(text.str()).as_object();
    EXPECT_EQ(s.at("final").as_bool(), true);
    EXPECT_TRUE(s.at("first_sent_at").is_null());
    EXPECT_EQ(s.at("states").at("failed").as_int64(), 2);
}

TEST_F(Reporter, AFailedWriteKeepsTheOldFilesAndIsNotRetriedAtEveryPass) {
    ASSERT_TRUE(store::test::ingest_batch(*store_, store::test::make_batch("refused"), 1));
    auto c = store::test::claim(*store_, "shop", 1);
    ASSERT_TRUE(store_->submit(store::record_result{failed_result(c.jobs[0])}));
    // A directory where the CSV goes: the rename fails (as a full disk would fail a write).
    fs::create_directories(reports_ / "refused.csv");
    reporter_options o = options();
    o.min_rewrite_interval = 1h;
    reporter r(*store_, o);
    EXPECT_EQ(r.run_once(), 0u);
    EXPECT_FALSE(fs::exists(reports_ / "refused.summary.json"));
    EXPECT_FALSE(fs::exists(reports_ / ".refused.csv.tmp")) << "the temporary is removed";
    fs::remove(reports_ / "refused.csv");
    EXPECT_EQ(r.run_once(), 0u) << "tried again only after min_rewrite_interval";
    reporter restarted(*store_, o);
    EXPECT_EQ(restarted.run_once(), 1u);
    EXPECT_TRUE(fs::exists(reports_ / "refused.summary.json"));
}

TEST_F(Reporter, RunsOnItsOwnThreadAndStops) {
    queue_and_end_batch();
    reporter_options o = options();
    o.interval = 10ms;
    reporter r(*store_, o);
    r.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!fs::exists(reports_ / (file_stem(batch_name) + ".summary.json")) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    r.stop();
    EXPECT_TRUE(fs::exists(reports_ / (file_stem(batch_name) + ".csv")));
}

}  // namespace
}  // namespace msgflash::report
