// Batch reports of the real msgflashd against msgflash-sim over loopback (SPEC §7): a small batch dropped in
// the spool finishes, and the daemon writes reports/<batch>.csv — valid RFC 4180 CSV, each recipient exactly
// once with its state (a ref with a comma and a quote intact) — and <batch>.summary.json, whose counts are
// those of the rows; `msgflashctl export` gives the same rows.
#include <map>
#include <set>

#include "report/csv.hpp"
#include "report/report_format.hpp"
#include "tests/integration/engine/msgflashd_fixture.hpp"

namespace msgflash::test {
namespace {

constexpr std::string_view hostile_ref = "cust,42 \"VIP\"";
constexpr int recipients = 12;
// The columns that reconciliation never changes (delivery_status may move on between two reads).
constexpr std::size_t delivery_status_column = 7;

class ReportsTest : public MsgflashdTest {
  protected:
    // One batch file for the shop account: `recipients` recipients, the first with a hostile ref.
    void drop_report_batch(const std::string& batch) {
        json::array list;
        for (int i = 0; i < recipients; ++i) {
            json::object r{{"to", fmt::format("+3361{:07}", i)}};
            r["ref"] = i == 0 ? std::string(hostile_ref) : fmt::format("r-{:02}", i);
            list.push_back(std::move(r));
        }
        const json::object file{{"batch", batch},
                                {"account", "shop"},
                                {"instanceId", shop_number},
                                {"message", json::object{{"type", "text"}, {"body", "Hi"}}},
                                {"recipients", std::move(list)}};
        const fs::path incoming = dir_ / "spool" / "incoming";
        fs::create_directories(incoming);
        std::ofstream(incoming / ".report.json") << json::serialize(file);
        fs::rename(incoming / ".report.json", incoming / "report.json");
    }

    std::string read_file(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    int ctl(const std::string& args, std::string& out) {
        const fs::path output = dir_ / "ctl.out";
        const std::string cmd =
            fmt::format("{} --config {} {} > {} 2>{}", MSGFLASHCTL_PATH, (dir_ / "msgflashd.toml").string(),
                        args, output.string(), (dir_ / "ctl.err").string());
        const int status = std::system(cmd.c_str());
        out = read_file(output);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
};

TEST_F(ReportsTest, AFinishedBatchGetsItsReportWithEachRecipientOnceAndAMatchingSummary) {
    write_config("[reports]\ninterval = \"200ms\"\nmin_rewrite_interval = \"0s\"\n");
    const std::string batch = "shop-report";
    start_daemon();
    drop_report_batch(batch);
    const fs::path reports = dir_ / "spool" / "reports";
    const fs::path csv_path = reports / (batch + ".csv");
    const fs::path summary_path = reports / (batch + ".summary.json");
    // 12 sends at 10 req/s, then a reporter pass.
    ASSERT_TRUE(wait_for([&] { return fs::exists(summary_path); }, 60s))
        << "no report; sent " << counts().sent << " of " << recipients;
    ASSERT_TRUE(fs::exists(csv_path));

    // The CSV: the header, then each recipient exactly once.
    const auto rows = report::parse_csv(read_file(csv_path));
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(recipients) + 1);
    EXPECT_EQ(rows[0], std::vector<std::string>(report::columns.begin(), report::columns.end()));
    std::map<std::string, std::vector<std::string>> by_ref;
    std::map<std::string, std::int64_t> states;
    std::map<std::string, std::int64_t> statuses;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), report::columns.size()) << "row " << i;
        EXPECT_TRUE(by_ref.emplace(rows[i][0], rows[i]).second) << "twice: " << rows[i][0];
        ++states[rows[i][2]];
        if (!rows[i][delivery_status_column].empty()) {
            ++statuses[rows[i][delivery_status_column]];
        }
        EXPECT_EQ(rows[i][2], "sent") << rows[i][0];
        EXPECT_FALSE(rows[i][3].empty()) << "message id of " << rows[i][0];
        EXPECT_EQ(rows[i][4], "1") << rows[i][0];
        EXPECT_FALSE(rows[i][6].empty()) << "sent_at of " << rows[i][0];
        EXPECT_EQ(rows[i][8], "false") << rows[i][0];
    }
    ASSERT_TRUE(by_ref.contains(std::string(hostile_ref)));
    EXPECT_EQ(by_ref[std::string(hostile_ref)][1], "+33610000000");

    // The summary counts what the rows hold.
    const json::object s = json::parse(read_file(summary_path)).as_object();
    EXPECT_EQ(s.at("batch").as_string(), batch);
    EXPECT_EQ(s.at("account").as_string(), "shop");
    EXPECT_EQ(s.at("jobs").as_int64(), recipients);
    for (const auto& [state, n] : s.at("states").as_object()) {
        EXPECT_EQ(n.as_int64(), states[std::string(state)]) << state;
    }
    for (const auto& [status, n] : s.at("delivery_statuses").as_object()) {
        EXPECT_EQ(n.as_int64(), statuses[std::string(status)]) << status;
    }
    EXPECT_EQ(s.at("sends").as_int64(), recipients);
    EXPECT_EQ(s.at("ambiguous").as_int64(), 0);
    EXPECT_EQ(s.at("deliveries").at("tracked").as_int64(), recipients);
    EXPECT_EQ(s.at("final").as_bool(), s.at("deliveries").at("unsettled").as_int64() == 0);
    ASSERT_TRUE(s.at("mean_pace").is_number());
    EXPECT_GT(s.at("mean_pace").to_number<double>(), 0.0);
    EXPECT_LE(s.at("mean_pace").to_number<double>(), 10.5) << "faster than the key's 10 req/s";
    EXPECT_FALSE(s.at("first_sent_at").is_null());

    // No temporaries in reports/.
    for (const auto& e : fs::directory_iterator(reports)) {
        EXPECT_NE(e.path().filename().string().front(), '.') << e.path();
    }

    // msgflashctl export: the same rows, from the same formatting.
    std::string out;
    ASSERT_EQ(ctl("export " + batch, out), 0) << read_file(dir_ / "ctl.err");
    auto exported = report::parse_csv(out);
    ASSERT_EQ(exported.size(), rows.size()) << out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto a = rows[i];
        auto b = exported[i];
        a.erase(a.begin() + delivery_status_column);
        b.erase(b.begin() + delivery_status_column);
        EXPECT_EQ(a, b) << "row " << i;
    }
    ASSERT_EQ(ctl("export --format ndjson " + batch, out), 0) << read_file(dir_ / "ctl.err");
    std::set<std::string> refs;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        refs.insert(std::string(json::parse(line).at("ref").as_string()));
    }
    EXPECT_EQ(refs.size(), static_cast<std::size_t>(recipients));
    EXPECT_TRUE(refs.contains(std::string(hostile_ref)));

    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(stopped->first, 0);
    EXPECT_EQ(account_stats("shop").at("duplicates").to_number<std::int64_t>(), 0);
}

// A campaign file's batch (SPEC §3): its one job creates the campaign, whose GET /campaigns/{id}/stats are
// reconciled into the batch's record: the summary carries the campaign's counts, final once none of its
// recipients is pending or merely sent, and the job's row says "completed".
TEST_F(ReportsTest, ACampaignBatchsSummaryCarriesItsCampaignsStats) {
    write_config("[reports]\ninterval = \"200ms\"\nmin_rewrite_interval = \"0s\"\n");
    start_daemon();
    const fs::path incoming = dir_ / "spool" / "incoming";
    fs::create_directories(incoming);
    // Scheduled in the past: the simulator's campaign has gone through every step by the first check.
    std::ofstream(incoming / ".autumn.campaign.json") << fmt::format(
        R"({{"account":"shop","batch":"autumn","instanceId":"{}","name":"autumn",)"
        R"("schedule":"2026-01-01T09:00:00+01:00",)"
        R"("recipients":{{"type":"explicit","value":["+33600000001","+33600000002","+33600000003"]}},)"
        R"("type":"text","body":"Hi"}})",
        shop_number);
    fs::rename(incoming / ".autumn.campaign.json", incoming / "autumn.campaign.json");
    const fs::path summary_path = dir_ / "spool" / "reports" / "autumn.summary.json";
    const auto summary = [&]() -> std::optional<json::object> {
        if (!fs::exists(summary_path)) {
            return std::nullopt;
        }
        json::object s = json::parse(read_file(summary_path)).as_object();
        if (!s.at("final").as_bool()) {
            return std::nullopt;
        }
        return s;
    };
    ASSERT_TRUE(wait_for([&] { return summary().has_value(); }, 40s))
        << "no final report; " << (fs::exists(summary_path) ? read_file(summary_path) : "none yet");
    const json::object s = *summary();
    ASSERT_TRUE(s.at("campaign").is_object()) << json::serialize(s);
    const json::object& k = s.at("campaign").as_object();
    EXPECT_EQ(k.at("total").as_int64(), 3);
    EXPECT_EQ(k.at("pending").as_int64(), 0);
    EXPECT_EQ(k.at("sent").as_int64(), 0);
    EXPECT_EQ(k.at("delivered").as_int64() + k.at("read").as_int64() + k.at("failed").as_int64(), 3);
    EXPECT_EQ(s.at("delivery_statuses").at("completed").as_int64(), 1);
    EXPECT_EQ(s.at("deliveries").at("tracked").as_int64(), 1);

    // The id in the summary is the job's, and the one the simulator knows.
    const auto rows = report::parse_csv(read_file(dir_ / "spool" / "reports" / "autumn.csv"));
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1][3], k.at("id").as_string());
    EXPECT_EQ(rows[1][delivery_status_column], "completed");
    const auto got = sim_.client().get("/api/v1/campaigns/" + rows[1][3] + "/stats",
                                       {{"x-api-key", "msgf_live_FAKE_shop_key"}});
    EXPECT_EQ(got.status, 200u) << got.body;

    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(stopped->first, 0);
}

}  // namespace
}  // namespace msgflash::test
