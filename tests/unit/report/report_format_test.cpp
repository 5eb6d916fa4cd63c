// The rows and the summary of reports/<batch>.csv (SPEC §7): RFC 4180 quoting that a hostile ref survives,
// the NDJSON twin of a row, the summary's counts, pace and final flag, and safe file names.
#include "report/report_format.hpp"

#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "report/csv.hpp"

namespace msgflash::report {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// 2026-11-27T08:00:00Z
constexpr timestamp t0 = from_millis(1'795'766'400'000);

store::report_row sent_row(std::string ref, timestamp at, std::string status = "delivered",
                           bool settled = true) {
    store::report_row r;
    r.ref = std::move(ref);
    r.to = "+33612345678";
    r.state = job_state::sent;
    r.message_id = "msg-" + r.ref;
    r.attempts = 1;
    r.sent_at = at;
    r.delivery_status = std::move(status);
    r.delivery_tracked = true;
    r.delivery_settled = settled;
    return r;
}

store::report_row failed_row(std::string ref, std::string code) {
    store::report_row r;
    r.ref = std::move(ref);
    r.to = "+33612345679";
    r.state = job_state::failed;
    r.attempts = 1;
    r.last_code = std::move(code);
    return r;
}

TEST(ReportCsv, QuotesOnlyWhatNeedsIt) {
    EXPECT_EQ(csv_field("cust-42"), "cust-42");
    EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
    EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(csv_field(""), "");
    const std::vector<std::string> row{"a", "b,c", ""};
    EXPECT_EQ(csv_row(row), "a,\"b,c\",\r\n");
}

TEST(ReportCsv, HostileFieldsRoundTrip) {
    const std::vector<std::vector<std::string>> rows{
        {"ref", "to"},
        {"x,\"y\"\r\nz", "+33612345678"},
        {"", "\"\""},
        {"é, ünïcode", "trailing,"},
    };
    std::string text;
    for (const auto& r : rows) {
        text += csv_row(r);
    }
    EXPECT_EQ(parse_csv(text), rows);
}

TEST(ReportRows, ARefWithACommaAQuoteAndANewlineSurvives) {
    const std::string hostile = "cust,42 \"VIP\"\nline two";
    std::string text = csv_header();
    store::report_row a = sent_row(hostile, t0 + 1500ms);
    a.ambiguous = true;
    append_csv_row(text, a);
    append_csv_row(text, failed_row("plain", "INVALID_DESTINATION"));
    const auto rows = parse_csv(text);
    ASSERT_EQ(rows.size(), 3u) << text;
    EXPECT_EQ(rows[0], std::vector<std::string>(columns.begin(), columns.end()));
    EXPECT_EQ(rows[1], (std::vector<std::string>{hostile, "+33612345678", "sent", "msg-" + hostile, "1", "",
                                                 "2026-11-27T08:00:01Z", "delivered", "true"}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"plain", "+33612345679", "failed", "", "1",
                                                 "INVALID_DESTINATION", "", "", "false"}));
    EXPECT_TRUE(text.ends_with("\r\n"));
}

TEST(ReportRows, NdjsonHasTheSameFields) {
    std::string text;
    append_ndjson_row(text, sent_row("a,\"b\"", t0));
    append_ndjson_row(text, failed_row("c", "NOT_FOUND"));
    const auto nl = text.find('\n');
    ASSERT_NE(nl, std::string::npos);
    const json::object first = json::parse(text.substr(0, nl)).as_object();
    const json::object second = json::parse(text.substr(nl + 1)).as_object();
    EXPECT_EQ(first.size(), columns.size());
    for (const auto c : columns) {
        EXPECT_TRUE(first.contains(c)) << c;
    }
    EXPECT_EQ(first.at("ref").as_string(), "a,\"b\"");
    EXPECT_EQ(first.at("sent_at").as_string(), "2026-11-27T08:00:00Z");
    EXPECT_EQ(first.at("attempts").as_int64(), 1);
    EXPECT_EQ(first.at("ambiguous").as_bool(), false);
    EXPECT_TRUE(second.at("sent_at").is_null());
    EXPECT_EQ(second.at("last_code").as_string(), "NOT_FOUND");
}

TEST(ReportSummary, CountsStatesStatusesAmbiguityAndPace) {
    summary_builder s;
    // 11 sends over 5 s: 2 sends a second.
    for (int i = 0; i <= 10; ++i) {
        store::report_row r = sent_row("s" + std::to_string(i), t0 + i * 500ms, i < 6 ? "delivered" : "read");
        if (i == 3) {
            r.ambiguous = true;
            r.ambiguous_settled = true;
        }
        s.add(r);
    }
    store::report_row unsettled = failed_row("f1", "TEMPLATE_NOT_FOUND");
    unsettled.ambiguous = true;
    s.add(unsettled);
    store::report_row expired;
    expired.ref = "e1";
    expired.state = job_state::expired;
    s.add(expired);

    EXPECT_EQ(s.rows(), 13);
    EXPECT_EQ(s.states().sent, 11);
    EXPECT_EQ(s.states().failed, 1);
    EXPECT_EQ(s.states().expired, 1);
    ASSERT_TRUE(s.mean_pace());
    EXPECT_DOUBLE_EQ(*s.mean_pace(), 2.0);
    EXPECT_TRUE(s.final());

    summary_info info;
    info.batch = "b";
    info.account = "shop";
    info.generated_at = t0 + 1h;
    info.finished_at = t0 + 10min;
    info.deliveries_checked_at = t0 + 30min;
    const json::object doc = json::parse(s.json(info)).as_object();
    EXPECT_EQ(doc.at("batch").as_string(), "b");
    EXPECT_EQ(doc.at("final").as_bool(), true);
    EXPECT_EQ(doc.at("jobs").as_int64(), 13);
    EXPECT_EQ(doc.at("states").at("sent").as_int64(), 11);
    EXPECT_EQ(doc.at("states").at("failed").as_int64(), 1);
    EXPECT_EQ(doc.at("states").at("expired").as_int64(), 1);
    EXPECT_EQ(doc.at("states").at("waiting").as_int64(), 0);
    EXPECT_EQ(doc.at("states").as_object().size(), 9u);
    EXPECT_EQ(doc.at("delivery_statuses").at("delivered").as_int64(), 6);
    EXPECT_EQ(doc.at("delivery_statuses").at("read").as_int64(), 5);
    EXPECT_EQ(doc.at("deliveries").at("tracked").as_int64(), 11);
    EXPECT_EQ(doc.at("deliveries").at("unsettled").as_int64(), 0);
    EXPECT_EQ(doc.at("ambiguous").as_int64(), 2);
    EXPECT_EQ(doc.at("ambiguous_settled").as_int64(), 1);
    EXPECT_EQ(doc.at("sends").as_int64(), 11);
    EXPECT_EQ(doc.at("first_sent_at").as_string(), "2026-11-27T08:00:00Z");
    EXPECT_EQ(doc.at("last_sent_at").as_string(), "2026-11-27T08:00:05Z");
    EXPECT_EQ(doc.at("mean_pace").to_number<double>(), 2.0);
    EXPECT_EQ(doc.at("deliveries_checked_at_ms").as_int64(), to_millis(t0 + 30min));

    const auto state = read_summary_state(s.json(info));
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->final);
    EXPECT_EQ(state->deliveries_checked_ms, to_millis(t0 + 30min));
    EXPECT_EQ(state->states, s.states());
    EXPECT_FALSE(read_summary_state("{\"final\":true}"));
    EXPECT_FALSE(read_summary_state("not json"));
}

TEST(ReportSummary, FinalOnlyOnceEveryDeliveryIsSettled) {
    summary_builder s;
    s.add(sent_row("a", t0, "delivered", true));
    s.add(sent_row("b", t0, "sent", false));
    EXPECT_FALSE(s.final());
    EXPECT_EQ(s.unsettled_deliveries(), 1);
    EXPECT_FALSE(s.mean_pace()) << "two sends in the same millisecond have no pace";
    summary_info info;
    info.batch = "b";
    EXPECT_EQ(json::parse(s.json(info)).at("final").as_bool(), false);
    EXPECT_TRUE(json::parse(s.json(info)).at("deliveries_checked_at_ms").is_null());

    summary_builder none_sent;
    none_sent.add(failed_row("x", "INVALID_DESTINATION"));
    EXPECT_TRUE(none_sent.final()) << "a batch that sent nothing has nothing to reconcile";
    EXPECT_FALSE(none_sent.mean_pace());
    EXPECT_TRUE(json::parse(none_sent.json(info)).at("first_sent_at").is_null());

    summary_builder pending;
    store::report_row held;
    held.state = job_state::held;
    pending.add(held);
    EXPECT_FALSE(pending.final());
}

TEST(ReportFileNames, AreNeverPathsNorDotFilesAndNeverShared) {
    EXPECT_EQ(file_stem("black-friday-2026"), "black-friday-2026");
    EXPECT_EQ(file_stem("v1.2_final"), "v1.2_final");
    EXPECT_EQ(file_stem("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd");
    EXPECT_EQ(file_stem(".hidden"), "%2Ehidden");
    EXPECT_EQ(file_stem("a b%"), "a%20b%25");
    EXPECT_EQ(file_stem("é"), "%C3%A9");
    const std::vector<std::string> names{"a/b",
                                         "a_b",
                                         "a%2Fb",
                                         "a:b",
                                         std::string(200, 'x'),
                                         std::string(199, 'x') + "y",
                                         std::string(200, '/'),
                                         std::string(199, '/') + ".",
                                         "x" + std::string(200, '/')};
    std::set<std::string> stems;
    for (const auto& n : names) {
        const std::string s = file_stem(n);
        EXPECT_EQ(s.find('/'), std::string::npos) << s;
        EXPECT_NE(s.front(), '.') << s;
        EXPECT_LE(s.size(), max_stem_bytes) << s;
        stems.insert(s);
    }
    EXPECT_EQ(stems.size(), names.size());
    EXPECT_EQ(file_stem(std::string(200, 'x')), std::string(200, 'x'));
    EXPECT_EQ(file_stem(std::string(200, '/')).size(), max_stem_bytes);
    const std::string cut = file_stem("x" + std::string(200, '/'));
    EXPECT_EQ(cut.size(), max_stem_bytes - 2) << "an escape is never cut in two: " << cut;
    EXPECT_NE(cut.find('~'), std::string::npos);
}

}  // namespace
}  // namespace msgflash::report
