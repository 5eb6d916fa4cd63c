#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <date/date.h>
#include <gtest/gtest.h>

#include "spool/job_problems.hpp"
#include "spool/job_reader.hpp"
#include "spool/job_validation.hpp"
#include "spool_test_support.hpp"

namespace msgflash::spool {
namespace {

namespace json = boost::json;
using testing::recording_sink;
using testing::string_source;

// A fake SHA-256: 64 hex digits.
const std::string fake_sha = std::string(32, 'a') + std::string(32, 'b');
constexpr std::string_view instance = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

reader_options options_for(std::string file_name) {
    reader_options o;
    o.file_name = std::move(file_name);
    o.file_sha256 = fake_sha;
    o.accounts = {"shop"};
    return o;
}

struct result {
    read_report report;
    recording_sink sink;

    // The problem codes, in order, for short assertions.
    std::vector<std::string> codes() const {
        std::vector<std::string> out;
        for (const auto& p : report.problems) {
            out.push_back(p.code);
        }
        return out;
    }
    bool has(const std::string& code, const std::string& field, std::uint64_t line) const {
        for (const auto& p : report.problems) {
            if (p.code == code && p.field == field && p.line == line) {
                return true;
            }
        }
        return false;
    }
};

std::string dump(const read_report& r) {
    std::string s;
    for (const auto& p : r.problems) {
        s += std::to_string(p.line) + " " + p.field + " " + p.code + ": " + p.message + "\n";
    }
    return s;
}

result read(file_kind kind, std::string text, const reader_options& options,
            std::size_t chunk = std::size_t(-1)) {
    result r;
    string_source source(std::move(text), chunk);
    r.report = read_job_file(kind, source, options, r.sink);
    return r;
}

result read_batch(std::string text, const reader_options& options = options_for("b.json")) {
    return read(file_kind::batch_json, std::move(text), options);
}

// A batch file with one top-level field per line: field i is on line i + 2.
using fields = std::vector<std::pair<std::string, std::string>>;

fields base_batch() {
    return {
        {"batch", R"("black-friday-2026")"},
        {"account", R"("shop")"},
        {"instanceId", R"("7C9E6679-7425-40DE-944B-E07FC1F90AE7")"},
        {"sendAt", R"("2026-11-27T08:00:00+01:00")"},
        {"expiresAt", R"("2026-11-28T00:00:00+01:00")"},
        {"window", R"({ "from": "09:00", "to": "20:00", "tz": "Europe/Paris" })"},
        {"priority", "0"},
        {"message", R"({ "type": "text", "body": "Hi {{name}}, -30% today only" })"},
        {"recipients",
         "[\n"
         R"(    { "to": "+33612345678", "ref": "cust-42", "variables": { "name": "Ana" } },)"
         "\n"
         R"(    { "to": "+33698765432", "variables": { "name": "Bob" } })"
         "\n  ]"},
    };
}

constexpr std::uint64_t recipients_line = 10;  // "recipients" in base_batch(); its elements on 11 and 12

std::string batch_text(const fields& f) {
    std::string s = "{\n";
    for (std::size_t i = 0; i < f.size(); ++i) {
        s += "  \"" + f[i].first + "\": " + f[i].second + (i + 1 < f.size() ? ",\n" : "\n");
    }
    return s + "}\n";
}

fields with(fields f, const std::string& key, const std::string& value) {
    for (auto& kv : f) {
        if (kv.first == key) {
            kv.second = value;
            return f;
        }
    }
    f.emplace_back(key, value);
    return f;
}

fields without(fields f, const std::string& key) {
    std::erase_if(f, [&](const auto& kv) { return kv.first == key; });
    return f;
}

timestamp utc(int y, unsigned mo, unsigned d, int h, int mi) {
    return timestamp{date::sys_days{date::year{y} / date::month{mo} / date::day{d}} + std::chrono::hours{h} +
                     std::chrono::minutes{mi}};
}

// ------------------------------------------------------------------------------------------- basics

TEST(SpoolReaderKinds, FileNamesPickTheFormat) {
    EXPECT_EQ(kind_of("a.json"), file_kind::batch_json);
    EXPECT_EQ(kind_of("a.campaign.json"), file_kind::campaign_json);
    EXPECT_EQ(kind_of("a.ndjson"), file_kind::line_json);
    EXPECT_EQ(kind_of("a.jsonl"), file_kind::line_json);
    EXPECT_EQ(kind_of(".json"), std::nullopt);
    EXPECT_EQ(kind_of("a.csv"), std::nullopt);
    EXPECT_EQ(kind_of("a.json.tmp"), std::nullopt);
}

TEST(SpoolReaderCodes, EveryCodeIsUniqueAndExplained) {
    std::set<std::string_view> names;
    for (const auto& c : problem_codes()) {
        EXPECT_TRUE(names.insert(c.name).second) << c.name;
        EXPECT_FALSE(c.meaning.empty()) << c.name;
        EXPECT_EQ(to_string(c.code), c.name);
    }
}

TEST(SpoolReaderRules, Iso8601NeedsAnOffset) {
    EXPECT_EQ(parse_iso8601("2026-11-27T08:00:00+01:00"), utc(2026, 11, 27, 7, 0));
    EXPECT_EQ(parse_iso8601("2026-11-27T07:00Z"), utc(2026, 11, 27, 7, 0));
    EXPECT_EQ(parse_iso8601("2026-11-27T02:00:00-05:00"), utc(2026, 11, 27, 7, 0));
    EXPECT_EQ(parse_iso8601("2026-11-27T07:00:00.250Z"),
              utc(2026, 11, 27, 7, 0) + std::chrono::milliseconds{250});
    EXPECT_EQ(parse_iso8601("2024-02-29T00:00:00Z"), utc(2024, 2, 29, 0, 0));
    for (auto bad : {"2026-11-27T08:00:00", "2026-11-27", "2026-11-27 08:00:00Z", "2026-13-01T00:00:00Z",
                     "2026-02-29T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T08:00:00+0100",
                     "2026-11-27T08:00:00+01:00 ", "2026-11-27T08:00:00.Z", "tomorrow", ""}) {
        EXPECT_FALSE(parse_iso8601(bad)) << bad;
    }
}

TEST(SpoolReaderRules, E164) {
    EXPECT_TRUE(is_e164("+33612345678"));
    EXPECT_TRUE(is_e164("+12345678"));
    EXPECT_TRUE(is_e164("+123456789012345"));
    for (auto bad :
         {"33612345678", "+1234567", "+1234567890123456", "+33 612345678", "+0612345678", "+", ""}) {
        EXPECT_FALSE(is_e164(bad)) << bad;
    }
}

TEST(SpoolReaderRules, JsonStringsAreEscaped) {
    std::string s;
    append_json_string(s, "a\"b\\c\nd\x01\xc3\xa9");
    EXPECT_EQ(s, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
    EXPECT_EQ(json::parse(s).as_string(), "a\"b\\c\nd\x01\xc3\xa9");
}

// ---------------------------------------------------------------------------------------- batch files

TEST(SpoolReaderBatch, ReadsTheSpecExample) {
    const auto r = read_batch(batch_text(base_batch()));
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_TRUE(r.report.problems.empty()) << dump(r.report);
    EXPECT_EQ(r.report.batches, 1u);
    EXPECT_EQ(r.report.jobs, 2u);
    ASSERT_EQ(r.sink.batches.size(), 1u);
    const auto& b = r.sink.batches[0];
    EXPECT_EQ(b.id, "black-friday-2026");
    EXPECT_EQ(b.account, "shop");
    EXPECT_EQ(b.source_file, "b.json");
    EXPECT_EQ(b.fingerprint, fake_sha);
    EXPECT_EQ(b.instance_ids, std::vector<std::string>{std::string(instance)});
    EXPECT_EQ(b.send_at, utc(2026, 11, 27, 7, 0));
    EXPECT_EQ(b.expires_at, utc(2026, 11, 27, 23, 0));
    EXPECT_EQ(b.window, (sending_window{"09:00", "20:00", "Europe/Paris"}));
    EXPECT_EQ(b.priority, 0);
    EXPECT_FALSE(b.allow_duplicates);
    EXPECT_EQ(json::parse(b.message_json),
              json::parse(R"({"type":"text","body":"Hi {{name}}, -30% today only"})"));
    ASSERT_EQ(r.sink.jobs.size(), 2u);
    const auto& j0 = r.sink.jobs[0].second;
    EXPECT_EQ(j0.ref, "cust-42");
    EXPECT_EQ(j0.to, "+33612345678");
    EXPECT_EQ(j0.line, 11u);
    EXPECT_EQ(json::parse(j0.payload_json),
              json::parse(R"({"type":"text","body":"Hi Ana, -30% today only"})"));
    const auto& j1 = r.sink.jobs[1].second;
    EXPECT_EQ(j1.ref, "+33698765432");  // ref defaults to `to`
    EXPECT_EQ(j1.line, 12u);
    EXPECT_EQ(json::parse(j1.payload_json),
              json::parse(R"({"type":"text","body":"Hi Bob, -30% today only"})"));
    EXPECT_FALSE(j0.priority || j0.send_at || j0.expires_at);
}

TEST(SpoolReaderBatch, HeaderAfterRecipientsReadsTheSame) {
    auto f = base_batch();
    std::rotate(f.begin(), f.end() - 1, f.end());  // recipients first, header after
    const auto r = read_batch(batch_text(f));
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    ASSERT_EQ(r.sink.jobs.size(), 2u);
    EXPECT_EQ(r.sink.batches[0].id, "black-friday-2026");
    EXPECT_EQ(r.sink.batches[0].window, (sending_window{"09:00", "20:00", "Europe/Paris"}));
    EXPECT_EQ(r.sink.jobs[0].second.line, 3u);
    EXPECT_EQ(json::parse(r.sink.jobs[1].second.payload_json),
              json::parse(R"({"type":"text","body":"Hi Bob, -30% today only"})"));
}

TEST(SpoolReaderBatch, SameResultWhateverTheChunkSize) {
    const auto text =
        batch_text(with(base_batch(), "recipients",
                        "[\n{\"to\":\"+33612345678\",\"variables\":{\"name\":\"A\\u00e9\\\"\"}},\n"
                        "{\"to\":\"06\"}, {\"to\":\"+33612345679\",\"variables\":{\"name\":\"B\"}}]"));
    const auto whole = read(file_kind::batch_json, text, options_for("b.json"));
    for (std::size_t chunk : {1, 2, 3, 7, 64}) {
        const auto r = read(file_kind::batch_json, text, options_for("b.json"), chunk);
        EXPECT_EQ(r.report.problems, whole.report.problems) << chunk;
        ASSERT_EQ(r.sink.jobs.size(), 2u) << chunk;
        for (std::size_t i = 0; i < 2; ++i) {
            EXPECT_EQ(r.sink.jobs[i].second.payload_json, whole.sink.jobs[i].second.payload_json);
            EXPECT_EQ(r.sink.jobs[i].second.line, whole.sink.jobs[i].second.line);
        }
    }
    EXPECT_TRUE(whole.has("INVALID_DESTINATION", "recipients[1].to", 12)) << dump(whole.report);
    EXPECT_EQ(json::parse(whole.sink.jobs[0].second.payload_json).at("body"),
              "Hi A\xc3\xa9\", -30% today only");
}

TEST(SpoolReaderBatch, PrettyPrintedRecipientsStartAtTheirBrace) {
    const std::string text =
        "{\n"
        "  \"recipients\": [\n"
        "    {\n"  // 3
        "      \"to\": \"+33612345678\"\n"
        "    },\n"
        "    {\n"  // 6
        "\n"
        "      \"to\": \"+336\"\n"  // 8
        "    },\n"
        "    \"+33612345679\",\n"                 // 10
        "    {\"t\\u006f\": \"+33612345670\"}\n"  // 11: an escaped key
        "  ],\n"
        "  \"instanceId\": \"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\n"
        "  \"message\": {\"type\": \"text\", \"body\": \"x\"}\n"
        "}\n";
    for (std::size_t chunk : {std::size_t(-1), std::size_t(1), std::size_t(2), std::size_t(5)}) {
        const auto r = read(file_kind::batch_json, text, options_for("b.json"), chunk);
        ASSERT_EQ(r.sink.jobs.size(), 2u) << dump(r.report);
        EXPECT_EQ(r.sink.jobs[0].second.line, 3u) << chunk;
        EXPECT_TRUE(r.has("INVALID_DESTINATION", "recipients[1].to", 6)) << chunk << dump(r.report);
        EXPECT_TRUE(r.has("WRONG_TYPE", "recipients[2]", 10)) << chunk << dump(r.report);
        // An escaped key gives no position: the line is the last one known, never a later one.
        EXPECT_GE(r.sink.jobs[1].second.line, 10u);
        EXPECT_LE(r.sink.jobs[1].second.line, 11u);
    }
}

TEST(SpoolReaderBatch, RejectedHeaderStillListsRecipientProblems) {
    const auto r = read_batch(batch_text(with(with(base_batch(), "account", R"("nobody")"), "recipients",
                                              "[\n{\"to\":\"+1\"},\n{\"to\":\"+33612345678\"}]")));
    EXPECT_TRUE(r.report.rejected);
    EXPECT_EQ(r.codes(), (std::vector<std::string>{"UNKNOWN_ACCOUNT", "INVALID_DESTINATION"}))
        << dump(r.report);
    EXPECT_TRUE(r.has("INVALID_DESTINATION", "recipients[0].to", 11));
    EXPECT_TRUE(r.sink.batches.empty());
    EXPECT_EQ(r.report.jobs, 0u);
}

TEST(SpoolReaderBatch, DefaultsWithoutOptionalFields) {
    const auto r = read_batch(R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "message":{"type":"image","mediaUrl":"https://cdn.example/a.png"},
        "recipients":[{"to":"+33612345678"}]})");
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    const auto& b = r.sink.batches.at(0);
    EXPECT_EQ(b.id, fake_sha);
    EXPECT_EQ(b.account, "shop");  // the only account
    EXPECT_FALSE(b.send_at || b.expires_at || b.window);
    EXPECT_EQ(json::parse(r.sink.jobs.at(0).second.payload_json),
              json::parse(R"({"type":"image","mediaUrl":"https://cdn.example/a.png"})"));
    EXPECT_EQ(r.sink.jobs.at(0).second.line, 3u);
}

TEST(SpoolReaderBatch, InstancesSpreadOverSeveralNumbers) {
    const auto r = read_batch(batch_text(with(without(base_batch(), "instanceId"), "instances",
                                              R"(["7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                                  "0f8fad5b-d9cb-469f-a165-70867728950e"])")));
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_EQ(r.sink.batches.at(0).instance_ids,
              (std::vector<std::string>{std::string(instance), "0f8fad5b-d9cb-469f-a165-70867728950e"}));
}

TEST(SpoolReaderBatch, TemplateModeMergesVariablesRecipientWins) {
    const auto r = read_batch(batch_text(with(with(base_batch(), "message",
                                                   R"({"templateId":"0F8FAD5B-D9CB-469F-A165-70867728950E",
                "variables":{"shop":"Acme","name":"you"}})"),
                                              "allowDuplicates", "true")));
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_TRUE(r.sink.batches.at(0).allow_duplicates);
    EXPECT_EQ(json::parse(r.sink.batches.at(0).message_json).at("variables").at("shop"), "Acme");
    EXPECT_EQ(json::parse(r.sink.jobs.at(0).second.payload_json),
              json::parse(R"({"shop":"Acme","name":"Ana"})"));
    EXPECT_EQ(json::parse(r.sink.jobs.at(1).second.payload_json),
              json::parse(R"({"shop":"Acme","name":"Bob"})"));
}

TEST(SpoolReaderBatch, DirectModeFillsPlaceholdersFromMergedVariables) {
    const auto r = read_batch(batch_text(
        with(with(base_batch(), "message",
                  R"({"type":"text","body":"{{ greeting }} {{name}} {{custom.code}}: {{n}} {{instance.name}}",
                 "variables":{"greeting":"Hello","name":"friend","n":42}})"),
             "recipients",
             R"([{"to":"+33612345678","variables":{"name":"Ana","code":"X1"}},
            {"to":"+33612345679","variables":{"code":"Y2","greeting":"Hi"}},
            {"to":"+33612345670","variables":{"name":"Eve"}}])")));
    EXPECT_EQ(json::parse(r.sink.jobs.at(0).second.payload_json).at("body"),
              "Hello Ana X1: 42 {{instance.name}}");
    EXPECT_EQ(json::parse(r.sink.jobs.at(1).second.payload_json).at("body"),
              "Hi friend Y2: 42 {{instance.name}}");
    // The third has no code: left out, the file still accepted (skip policy).
    EXPECT_EQ(r.sink.jobs.size(), 2u);
    EXPECT_FALSE(r.report.rejected);
    EXPECT_EQ(r.report.skipped, 1u);
    ASSERT_EQ(r.report.problems.size(), 1u) << dump(r.report);
    EXPECT_EQ(r.report.problems[0].code, "TEMPLATE_VARIABLES_MISSING");
    EXPECT_EQ(r.report.problems[0].field, "recipients[2].variables");
    EXPECT_NE(r.report.problems[0].message.find("{{custom.code}}"), std::string::npos);
    // Variables do not travel with a rendered message.
    EXPECT_FALSE(json::parse(r.sink.jobs.at(0).second.payload_json).as_object().contains("variables"));
}

TEST(SpoolReaderBatch, InvalidRecipientSkippedOrFileRejected) {
    const auto text = batch_text(with(base_batch(), "recipients",
                                      "[\n{\"to\":\"+33612345678\",\"variables\":{\"name\":\"A\"}},\n"
                                      "{\"to\":\"0612345678\",\"variables\":{\"name\":\"B\"}}\n]"));
    const auto skipped = read_batch(text);
    EXPECT_FALSE(skipped.report.rejected);
    EXPECT_EQ(skipped.report.jobs, 1u);
    EXPECT_EQ(skipped.report.skipped, 1u);
    EXPECT_TRUE(skipped.has("INVALID_DESTINATION", "recipients[1].to", 12)) << dump(skipped.report);

    auto strict = options_for("b.json");
    strict.on_invalid_recipient = invalid_recipient_policy::reject_file;
    const auto rejected = read_batch(text, strict);
    EXPECT_TRUE(rejected.report.rejected);
    EXPECT_TRUE(rejected.has("INVALID_DESTINATION", "recipients[1].to", 12));
}

TEST(SpoolReaderBatch, RecipientRules) {
    const auto r = read_batch(
        batch_text(with(with(base_batch(), "message", R"({"type":"text","body":"Hi"})"), "recipients",
                        "[\n{\"to\":\"+33612345678\"},\n"
                        "{\"ref\":\"r1\"},\n"
                        "{\"to\":\"+33612345678\",\"ref\":\"\"},\n"
                        "{\"to\":\"+33612345678\",\"name\":\"Ana\"},\n"
                        "{\"to\":\"+33612345678\",\"variables\":[1]},\n"
                        "{\"to\":\"+33612345678\",\"variables\":{\"x\":{\"y\":1}}},\n"
                        "\"+33612345678\",\n"
                        "{\"to\":33612345678}\n]")));
    EXPECT_EQ(r.report.jobs, 1u);
    EXPECT_EQ(r.report.skipped, 7u);
    EXPECT_TRUE(r.has("MISSING_FIELD", "recipients[1].to", 12)) << dump(r.report);
    EXPECT_TRUE(r.has("INVALID_REF", "recipients[2].ref", 13));
    EXPECT_TRUE(r.has("UNKNOWN_FIELD", "recipients[3].name", 14));
    EXPECT_TRUE(r.has("INVALID_VARIABLES", "recipients[4].variables", 15));
    EXPECT_TRUE(r.has("INVALID_VARIABLES", "recipients[5].variables.x", 16));
    EXPECT_TRUE(r.has("WRONG_TYPE", "recipients[6]", 17));
    EXPECT_TRUE(r.has("WRONG_TYPE", "recipients[7].to", 18));
}

struct header_case {
    std::string name;
    fields file;
    std::string code;
    std::string field;
    std::uint64_t line;
};

void PrintTo(const header_case& c, std::ostream* os) {
    *os << c.name;
}

// One case per rule of SPEC §3 that rejects a whole batch file; lines follow base_batch()'s layout (a
// field added by with() comes after the recipients, which end on line 13).
std::vector<header_case> header_cases() {
    const auto b = base_batch();
    const auto msg = [&](const std::string& m) { return with(b, "message", m); };
    return {
        {"UnknownAccount", with(b, "account", R"("nobody")"), "UNKNOWN_ACCOUNT", "account", 3},
        {"AccountNotAString", with(b, "account", "5"), "WRONG_TYPE", "account", 3},
        {"BadBatchId", with(b, "batch", R"("")"), "INVALID_BATCH_ID", "batch", 2},
        {"BadInstanceId", with(b, "instanceId", R"("7c9e6679")"), "INVALID_INSTANCE_ID", "instanceId", 4},
        {"NoInstance", without(b, "instanceId"), "MISSING_FIELD", "instanceId", 1},
        {"BothInstanceForms", with(b, "instances", R"(["7c9e6679-7425-40de-944b-e07fc1f90ae7"])"),
         "INSTANCE_CONFLICT", "instances", 14},
        {"BadInstanceInList", with(without(b, "instanceId"), "instances", R"(["x"])"), "INVALID_INSTANCE_ID",
         "instances[0]", 13},
        {"SendAtWithoutOffset", with(b, "sendAt", R"("2026-11-27T08:00:00")"), "INVALID_TIME", "sendAt", 5},
        {"SendAtNotADate", with(b, "sendAt", R"("soon")"), "INVALID_TIME", "sendAt", 5},
        {"ExpiresBeforeSend", with(b, "expiresAt", R"("2026-11-27T07:00:00Z")"), "EXPIRES_BEFORE_SEND",
         "expiresAt", 6},
        {"WindowBadZone", with(b, "window", R"({"from":"09:00","to":"20:00","tz":"Europe/Pariss"})"),
         "UNKNOWN_TIME_ZONE", "window.tz", 7},
        {"WindowBadTime", with(b, "window", R"({"from":"9h","to":"20:00","tz":"Europe/Paris"})"),
         "INVALID_WINDOW", "window.from", 7},
        {"WindowEmpty", with(b, "window", R"({"from":"09:00","to":"09:00","tz":"Europe/Paris"})"),
         "INVALID_WINDOW", "window.to", 7},
        {"WindowMissingZone", with(b, "window", R"({"from":"09:00","to":"20:00"})"), "MISSING_FIELD",
         "window.tz", 7},
        {"WindowUnknownField", with(b, "window", R"({"from":"09:00","to":"20:00","tz":"UTC","days":5})"),
         "UNKNOWN_FIELD", "window.days", 7},
        {"PriorityNotInteger", with(b, "priority", "1.5"), "INVALID_PRIORITY", "priority", 8},
        {"PriorityOutOfRange", with(b, "priority", "100000"), "INVALID_PRIORITY", "priority", 8},
        {"AllowDuplicatesNotBool", with(b, "allowDuplicates", R"("yes")"), "WRONG_TYPE", "allowDuplicates",
         14},
        {"UnknownTopField", with(b, "sendat", R"("2026-11-27T08:00:00Z")"), "UNKNOWN_FIELD", "sendat", 14},
        {"DuplicateField", with(b, "account\": \"shop\", \"priority", "1"), "DUPLICATE_FIELD", "account", 14},
        {"NoMessage", without(b, "message"), "NO_CONTENT", "message", 1},
        {"MessageNotObject", msg(R"("hello")"), "WRONG_TYPE", "message", 9},
        {"EmptyMessage", msg("{}"), "NO_CONTENT", "message.type", 9},
        {"BothContentModes",
         msg(R"({"templateId":"0f8fad5b-d9cb-469f-a165-70867728950e","type":"text","body":"x"})"),
         "CONTENT_CONFLICT", "message.templateId", 9},
        {"BadTemplateId", msg(R"({"templateId":"welcome"})"), "INVALID_TEMPLATE_ID", "message.templateId", 9},
        {"UnknownType", msg(R"({"type":"sticker","body":"x"})"), "INVALID_TYPE", "message.type", 9},
        {"TypeMissing", msg(R"({"body":"x"})"), "MISSING_FIELD", "message.type", 9},
        {"TextWithoutBody", msg(R"({"type":"text"})"), "MISSING_BODY", "message.body", 9},
        {"TextEmptyBody", msg(R"({"type":"text","body":""})"), "MISSING_BODY", "message.body", 9},
        {"ImageWithoutUrl", msg(R"({"type":"image","body":"x"})"), "MISSING_MEDIA_URL", "message.mediaUrl",
         9},
        {"VoiceNoteFtpUrl", msg(R"({"type":"voice_note","mediaUrl":"ftp://x/a.ogg"})"), "INVALID_MEDIA_URL",
         "message.mediaUrl", 9},
        {"ThreeButtons", msg(R"({"type":"buttons","title":"t","description":"d","buttons":["a","b","c"]})"),
         "INVALID_BUTTONS", "message.buttons", 9},
        {"NoButtons", msg(R"({"type":"buttons","title":"t","description":"d","buttons":[]})"),
         "INVALID_BUTTONS", "message.buttons", 9},
        {"ButtonsWithoutTitle", msg(R"({"type":"buttons","description":"d","buttons":["a"]})"),
         "INVALID_BUTTONS", "message.title", 9},
        {"ButtonsWithoutDescription", msg(R"({"type":"buttons","title":"t","buttons":["a"]})"),
         "INVALID_BUTTONS", "message.description", 9},
        {"EmptyButton", msg(R"({"type":"buttons","title":"t","description":"d","buttons":["a",""]})"),
         "INVALID_BUTTONS", "message.buttons[1]", 9},
        {"ButtonsOnText", msg(R"({"type":"text","body":"x","buttons":["a"]})"), "INVALID_BUTTONS",
         "message.buttons", 9},
        {"UnclosedPlaceholder", msg(R"({"type":"text","body":"Hi {{name"})"), "TEMPLATE_INVALID",
         "message.body", 9},
        {"BadPlaceholderName", msg(R"({"type":"text","body":"Hi {{1st}}"})"), "TEMPLATE_INVALID",
         "message.body", 9},
        {"VariableNotScalar", msg(R"({"type":"text","body":"x","variables":{"a":true}})"),
         "INVALID_VARIABLES", "message.variables.a", 9},
        {"UnknownMessageField", msg(R"({"type":"text","body":"x","colour":"red"})"), "UNKNOWN_FIELD",
         "message.colour", 9},
        {"BodyNotString", msg(R"({"type":"text","body":5})"), "WRONG_TYPE", "message.body", 9},
        {"RecipientsNotArray", with(b, "recipients", "{}"), "WRONG_TYPE", "recipients", 10},
        {"NoRecipientsField", without(b, "recipients"), "MISSING_FIELD", "recipients", 1},
    };
}

class SpoolReaderBatchRules : public ::testing::TestWithParam<header_case> {};

TEST_P(SpoolReaderBatchRules, RejectsTheFileWithCodeFieldAndLine) {
    const auto& c = GetParam();
    const auto r = read_batch(batch_text(c.file));
    EXPECT_TRUE(r.report.rejected);
    EXPECT_TRUE(r.has(c.code, c.field, c.line))
        << "want " << c.line << " " << c.field << " " << c.code << "\ngot:\n"
        << dump(r.report);
    EXPECT_EQ(r.sink.batches.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EachRule, SpoolReaderBatchRules, ::testing::ValuesIn(header_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(SpoolReaderBatch, AccountRequiredWhenSeveralConfigured) {
    auto o = options_for("b.json");
    o.accounts = {"shop", "crm"};
    const auto r = read_batch(batch_text(without(base_batch(), "account")), o);
    EXPECT_TRUE(r.report.rejected);
    EXPECT_TRUE(r.has("MISSING_FIELD", "account", 1)) << dump(r.report);
    EXPECT_FALSE(read_batch(batch_text(with(base_batch(), "account", R"("crm")")), o).report.rejected);
}

TEST(SpoolReaderBatch, EveryProblemOfABadFileIsListed) {
    auto f = with(with(with(base_batch(), "account", R"("nobody")"), "instanceId", R"("x")"), "sendAt",
                  R"("2026-11-27")");
    f = with(f, "message",
             R"({"type":"text","body":"x","templateId":"0f8fad5b-d9cb-469f-a165-70867728950e"})");
    f = with(f, "recipients", "[\n{\"to\":\"1\"}\n]");
    const auto r = read_batch(batch_text(f));
    EXPECT_TRUE(r.report.rejected);
    EXPECT_EQ(r.codes(), (std::vector<std::string>{"UNKNOWN_ACCOUNT", "INVALID_INSTANCE_ID", "INVALID_TIME",
                                                   "CONTENT_CONFLICT", "INVALID_DESTINATION"}))
        << dump(r.report);
    EXPECT_TRUE(r.sink.batches.empty());
}

TEST(SpoolReaderBatch, NoValidRecipientRejectsTheFile) {
    const auto r = read_batch(batch_text(with(base_batch(), "recipients", "[{\"to\":\"x\"}]")));
    EXPECT_TRUE(r.report.rejected);
    EXPECT_EQ(r.codes(), (std::vector<std::string>{"INVALID_DESTINATION", "NO_RECIPIENTS"}));
    EXPECT_TRUE(r.has("NO_RECIPIENTS", "recipients", recipients_line));
    EXPECT_TRUE(r.sink.batches.empty());  // begin_batch waits for the first valid recipient
    const auto empty = read_batch(batch_text(with(base_batch(), "recipients", "[]")));
    EXPECT_TRUE(empty.report.rejected);
    EXPECT_EQ(empty.codes(), std::vector<std::string>{"NO_RECIPIENTS"});
}

TEST(SpoolReaderBatch, MalformedJson) {
    struct bad {
        std::string text;
        std::string code;
        std::uint64_t line;
    };
    const std::vector<bad> cases{
        {"", "EMPTY_FILE", 0},
        {" \n\n ", "EMPTY_FILE", 0},
        {"{\n\"batch\": \"x\",\n\"account\" \"shop\"\n}", "NOT_JSON", 3},
        {"{\n\"batch\": \"x\",\n", "NOT_JSON", 3},
        {"[1, 2]", "NOT_AN_OBJECT", 1},
        {"\"text\"", "NOT_AN_OBJECT", 1},
        {"{}\n{}", "NOT_JSON", 2},
        {"{\"batch\": \"caf\xe9\"}", "INVALID_UTF8", 1},
        {"{\n\n\"batch\": \"\xc3\x28\"}", "INVALID_UTF8", 3},
        {"{\"batch\": \"\xed\xa0\x80\"}", "INVALID_UTF8", 1},  // an encoded surrogate
        {"{\"batch\": \"a\"} // comment", "NOT_JSON", 1},
    };
    for (const auto& c : cases) {
        const auto r = read_batch(c.text);
        EXPECT_TRUE(r.report.rejected) << c.text;
        ASSERT_EQ(r.report.problems.size(), 1u) << c.text << "\n" << dump(r.report);
        EXPECT_EQ(r.report.problems[0].code, c.code) << c.text;
        EXPECT_EQ(r.report.problems[0].line, c.line) << c.text;
        EXPECT_TRUE(r.sink.batches.empty());
    }
}

TEST(SpoolReaderBatch, ValidUtf8IsNotMistakenForInvalid) {
    const auto r = read_batch("{\"batch\": \"caf\xc3\xa9\" \"x\"}");
    ASSERT_EQ(r.report.problems.size(), 1u);
    EXPECT_EQ(r.report.problems[0].code, "NOT_JSON");
}

TEST(SpoolReaderBatch, NestingTenThousandDeepIsACleanProblem) {
    for (const bool in_recipients : {false, true}) {
        std::string text = in_recipients ? R"({"recipients":[)" : R"({"message":)";
        text += std::string(10'000, '[') + std::string(10'000, ']');
        text += in_recipients ? "]}" : "}";
        const auto r = read_batch(text);
        EXPECT_TRUE(r.report.rejected);
        ASSERT_EQ(r.report.problems.size(), 1u) << dump(r.report);
        EXPECT_EQ(r.report.problems[0].code, "TOO_DEEP");
    }
}

TEST(SpoolReaderBatch, ProblemsAreCapped) {
    auto o = options_for("b.json");
    o.max_problems = 10;
    std::string recipients = "[";
    for (int i = 0; i < 25; ++i) {
        recipients += std::string(i == 0 ? "" : ",") + "{\"to\":\"bad\"}";
    }
    recipients += ",{\"to\":\"+33612345678\"}]";
    const auto r = read_batch(batch_text(with(with(base_batch(), "message", R"({"type":"text","body":"x"})"),
                                              "recipients", recipients)),
                              o);
    EXPECT_FALSE(r.report.rejected);
    EXPECT_EQ(r.report.skipped, 25u);
    EXPECT_EQ(r.report.jobs, 1u);
    ASSERT_EQ(r.report.problems.size(), 11u);
    EXPECT_EQ(r.report.problems[10].code, "TOO_MANY_PROBLEMS");
    EXPECT_NE(r.report.problems[10].message.find("25 problems in all"), std::string::npos)
        << r.report.problems[10].message;
}

// --------------------------------------------------------------------------------------- line files

result read_lines(std::string text, const reader_options& options = options_for("l.ndjson")) {
    return read(file_kind::line_json, std::move(text), options);
}

// One line of a line file: an instanceId, then the given fields.
std::string job_line(const std::string& content, std::string_view instance_id = instance) {
    return R"({"instanceId":")" + std::string(instance_id) + "\"," + content + "}";
}

const std::string plain_line = job_line(R"("to":"+33612345678","type":"text","body":"x")");
constexpr std::string_view template_id = "0f8fad5b-d9cb-469f-a165-70867728950e";

TEST(SpoolReaderLines, OneJobPerLineGroupedByBatch) {
    const std::string text =
        job_line(R"("batch":"otp-2026-11-22","ref":"o-991","account":"shop","to":"+33612345678",)"
                 R"("type":"text","body":"Code 4711")") +
        "\n\n" +
        job_line(R"("batch":"otp-2026-11-22","ref":"o-992","to":"+33612345679","type":"text",)"
                 R"("body":"Code {{code}}","variables":{"code":815},"priority":5,)"
                 R"("sendAt":"2026-11-22T10:00:00Z")") +
        "\r\n   \n" + job_line(R"("to":"+33612345670","type":"text","body":"Hello")");
    const auto r = read_lines(text);
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_TRUE(r.report.problems.empty()) << dump(r.report);
    ASSERT_EQ(r.sink.batches.size(), 2u);
    EXPECT_EQ(r.report.batches, 2u);
    EXPECT_EQ(r.sink.batches[0].id, "otp-2026-11-22");
    EXPECT_EQ(r.sink.batches[0].fingerprint, "");  // several files may feed one batch
    EXPECT_EQ(r.sink.batches[0].source_file, "l.ndjson");
    EXPECT_EQ(json::parse(r.sink.batches[0].message_json),
              json::parse(R"({"type":"text","body":"Code 4711"})"));
    EXPECT_EQ(r.sink.batches[1].id, fake_sha);  // no batch: the file's hash
    ASSERT_EQ(r.sink.jobs.size(), 3u);
    EXPECT_EQ(r.sink.jobs[0].first, 0u);
    EXPECT_EQ(r.sink.jobs[0].second.ref, "o-991");
    EXPECT_EQ(r.sink.jobs[0].second.line, 1u);
    const auto& j1 = r.sink.jobs[1].second;
    EXPECT_EQ(r.sink.jobs[1].first, 0u);
    EXPECT_EQ(j1.line, 3u);
    EXPECT_EQ(j1.priority, 5);
    EXPECT_EQ(j1.send_at, utc(2026, 11, 22, 10, 0));
    EXPECT_FALSE(j1.expires_at);
    EXPECT_EQ(json::parse(j1.payload_json), json::parse(R"({"type":"text","body":"Code 815"})"));
    EXPECT_EQ(r.sink.jobs[2].first, 1u);
    EXPECT_EQ(r.sink.jobs[2].second.line, 5u);
    EXPECT_EQ(r.sink.jobs[2].second.ref, "+33612345670");
    EXPECT_FALSE(r.sink.jobs[2].second.priority);
}

TEST(SpoolReaderLines, TemplateModeLines) {
    const std::string tpl = R"("templateId":")" + std::string(template_id) + "\"";
    const auto r = read_lines(job_line(R"("batch":"b","to":"+33612345678","variables":{"code":"1"},)" + tpl) +
                              "\n" + job_line(R"("batch":"b","to":"+33612345679",)" + tpl) + "\n");
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_EQ(r.sink.jobs.at(0).second.payload_json, R"({"code":"1"})");
    EXPECT_EQ(r.sink.jobs.at(1).second.payload_json, "{}");
}

TEST(SpoolReaderLines, BadLinesSkippedWithTheirLine) {
    const std::string text = plain_line + "\n" +  // 1
                             "not json\n" +       // 2
                             "[1]\n" +            // 3
                             R"({"to":"+33612345678","type":"text","body":"x"})"
                             "\n" +  // 4
                             job_line(R"("to":"+336","type":"text","body":"x")") +
                             "\n" +                                                               // 5
                             job_line(R"("to":"+33612345678","type":"text","body":"{{who}}")") +  // 6
                             "\n" + job_line(R"("to":"+33612345678","typ":"text","body":"x")") +  // 7
                             "\n{\"body\":\"\xff\"}\n" +                                          // 8
                             plain_line;                                                          // 9
    const auto r = read_lines(text);
    EXPECT_FALSE(r.report.rejected);
    EXPECT_EQ(r.report.jobs, 2u);
    EXPECT_EQ(r.report.skipped, 7u);
    EXPECT_TRUE(r.has("NOT_JSON", "", 2)) << dump(r.report);
    EXPECT_TRUE(r.has("NOT_AN_OBJECT", "", 3));
    EXPECT_TRUE(r.has("MISSING_FIELD", "instanceId", 4));
    EXPECT_TRUE(r.has("INVALID_DESTINATION", "to", 5));
    EXPECT_TRUE(r.has("TEMPLATE_VARIABLES_MISSING", "variables", 6));
    EXPECT_TRUE(r.has("UNKNOWN_FIELD", "typ", 7));
    EXPECT_TRUE(r.has("INVALID_UTF8", "", 8));
    EXPECT_EQ(r.sink.jobs.at(1).second.line, 9u);  // the last line has no newline

    auto strict = options_for("l.ndjson");
    strict.on_invalid_recipient = invalid_recipient_policy::reject_file;
    const auto rejected = read_lines(text, strict);
    EXPECT_TRUE(rejected.report.rejected);
    EXPECT_EQ(rejected.report.problems, r.report.problems);
}

TEST(SpoolReaderLines, BatchFieldsMustAgreeAcrossLines) {
    const auto r = read_lines(
        job_line(R"("batch":"b","to":"+33612345678","type":"text","body":"x")") + "\n" +
        job_line(R"("batch":"b","to":"+33612345679","type":"text","body":"y")", template_id) + "\n" +
        job_line(R"("batch":"b","to":"+33612345670","type":"image","mediaUrl":"http://x/y.png")") + "\n");
    EXPECT_EQ(r.report.jobs, 2u);
    EXPECT_TRUE(r.has("BATCH_MISMATCH", "batch", 2)) << dump(r.report);
    EXPECT_NE(r.report.problems.at(0).message.find("line 1"), std::string::npos);
}

TEST(SpoolReaderLines, EmptyOrAllBadFileIsRejected) {
    const auto empty = read_lines("\n\n");
    EXPECT_TRUE(empty.report.rejected);
    EXPECT_EQ(empty.codes(), std::vector<std::string>{"NO_RECIPIENTS"});
    const auto bad = read_lines("{}\n");
    EXPECT_TRUE(bad.report.rejected);
    EXPECT_EQ(bad.codes().back(), "NO_RECIPIENTS");
}

TEST(SpoolReaderLines, OverlongLineIsSkippedNotBuffered) {
    // Line 2 is 5 MiB; the limit is 1 MiB. Lines 1 and 3 are still read.
    constexpr std::size_t piece_bytes = 64 * 1024;
    constexpr std::size_t pieces = 80;
    testing::generated_source source(
        plain_line + "\n{\"body\":\"", pieces,
        [](std::size_t, std::string& out) { out.assign(piece_bytes, 'a'); }, "\"}\n" + plain_line + "\n");
    recording_sink sink;
    auto o = options_for("l.ndjson");
    o.max_line_bytes = 1024 * 1024;
    const auto report = read_job_file(file_kind::line_json, source, o, sink);
    EXPECT_FALSE(report.rejected);
    EXPECT_EQ(report.jobs, 2u);
    EXPECT_EQ(report.skipped, 1u);
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_EQ(report.problems[0].code, "LINE_TOO_LONG");
    EXPECT_EQ(report.problems[0].line, 2u);
    EXPECT_EQ(sink.jobs.at(1).second.line, 3u);
}

TEST(SpoolReaderLines, LineExactlyAtTheLimitIsRead) {
    auto o = options_for("l.ndjson");
    o.max_line_bytes = plain_line.size();
    const auto text = plain_line + "\n" + plain_line;
    EXPECT_EQ(read(file_kind::line_json, text, o, 7).report.jobs, 2u);
    o.max_line_bytes = plain_line.size() - 1;
    const auto r = read(file_kind::line_json, text, o, 7);
    EXPECT_EQ(r.codes(), (std::vector<std::string>{"LINE_TOO_LONG", "LINE_TOO_LONG", "NO_RECIPIENTS"}));
}

TEST(SpoolReaderLines, DeepNestingOnALine) {
    const auto r =
        read_lines("{\"variables\":" + std::string(10'000, '[') + std::string(10'000, ']') + "}\n");
    EXPECT_TRUE(r.has("TOO_DEEP", "", 1)) << dump(r.report);
}

// ------------------------------------------------------------------------------------ campaign files

result read_campaign(std::string text, const reader_options& options = options_for("c.campaign.json")) {
    return read(file_kind::campaign_json, std::move(text), options);
}

TEST(SpoolReaderCampaign, TemplateCampaignIsOneBatchOfOneJob) {
    const auto r = read_campaign(R"({
  "account": "shop",
  "instanceId": "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
  "name": "Black Friday",
  "schedule": "2026-11-27T08:00:00+01:00",
  "repeat": "none",
  "recipients": { "type": "tags", "value": ["vip", "fr"] },
  "templateId": "0f8fad5b-d9cb-469f-a165-70867728950e",
  "variables": { "discount": "30%" }
})");
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    ASSERT_EQ(r.sink.batches.size(), 1u);
    const auto& b = r.sink.batches[0];
    EXPECT_EQ(b.id, "campaign-" + fake_sha);
    EXPECT_EQ(b.account, "shop");
    EXPECT_EQ(b.fingerprint, fake_sha);
    EXPECT_EQ(b.instance_ids, std::vector<std::string>{std::string(instance)});
    EXPECT_TRUE(b.campaign);
    const auto m = json::parse(b.message_json);
    const auto& c = m.at("campaign").as_object();
    EXPECT_FALSE(c.contains("account"));
    EXPECT_EQ(c.at("instanceId").as_string(), instance);
    EXPECT_EQ(c.at("name"), "Black Friday");
    EXPECT_EQ(c.at("recipients").at("value").as_array().size(), 2u);
    ASSERT_EQ(r.sink.jobs.size(), 1u);
    EXPECT_EQ(r.sink.jobs[0].second.ref, "campaign");
    EXPECT_EQ(r.sink.jobs[0].second.to, "");
    EXPECT_EQ(r.sink.jobs[0].second.payload_json, "null");
}

TEST(SpoolReaderCampaign, DirectButtonsCampaignWithBatchId) {
    const auto r = read_campaign(R"({"batch":"bf-2026","instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "name":"Poll","schedule":"2026-11-27T07:00:00Z","repeat":"weekly",
        "recipients":{"type":"group","groupId":"0f8fad5b-d9cb-469f-a165-70867728950e"},
        "type":"buttons","title":"Order","description":"Confirm {{contact.firstName}}?","footer":"shop",
        "buttons":[{"id":"y","text":"Yes"},"No"]})");
    ASSERT_FALSE(r.report.rejected) << dump(r.report);
    EXPECT_EQ(r.sink.batches.at(0).id, "bf-2026");
    EXPECT_FALSE(json::parse(r.sink.batches.at(0).message_json).at("campaign").as_object().contains("batch"));
}

struct campaign_case {
    std::string name;
    std::string text;
    std::vector<std::pair<std::string, std::string>> problems;  // code, field
};

std::vector<campaign_case> campaign_cases() {
    return {
        {"Empty",
         "{}",
         {{"MISSING_FIELD", "instanceId"},
          {"MISSING_FIELD", "name"},
          {"MISSING_FIELD", "schedule"},
          {"MISSING_FIELD", "recipients"},
          {"NO_CONTENT", "type"}}},
        {"BadValues",
         R"({"instanceId":"x","name":"","schedule":"2026-11-27 08:00","repeat":"monthly","account":"other",
             "recipients":{"type":"everyone"},"templateId":"t","type":"text","body":"x","extra":1})",
         {{"UNKNOWN_FIELD", "extra"},
          {"UNKNOWN_ACCOUNT", "account"},
          {"INVALID_INSTANCE_ID", "instanceId"},
          {"INVALID_CAMPAIGN", "name"},
          {"INVALID_TIME", "schedule"},
          {"INVALID_CAMPAIGN", "repeat"},
          {"INVALID_CAMPAIGN", "recipients.type"},
          {"CONTENT_CONFLICT", "templateId"}}},
        {"RecipientSelectors",
         R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"n","schedule":"2026-11-27T08:00:00Z",
             "recipients":{"type":"group","value":[1],"groupId":"g","tag":"x"},"type":"image"})",
         {{"UNKNOWN_FIELD", "recipients.tag"},
          {"INVALID_CAMPAIGN", "recipients.value"},
          {"INVALID_CAMPAIGN", "recipients.groupId"},
          {"MISSING_MEDIA_URL", "mediaUrl"}}},
        {"TagsNeedValues",
         R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"n","schedule":"2026-11-27T08:00:00Z",
             "recipients":{"type":"tags"},
              "type":"buttons","title":"t","description":"d","buttons":["a","b","c"]})",
         {{"INVALID_CAMPAIGN", "recipients.value"}, {"INVALID_BUTTONS", "buttons"}}},
        {"GroupNeedsGroupId",
         R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"n","schedule":"2026-11-27T08:00:00Z",
             "recipients":{"type":"group"},"type":"text"})",
         {{"MISSING_FIELD", "recipients.groupId"}, {"MISSING_BODY", "body"}}},
        {"NotAnObject", "[]", {{"NOT_AN_OBJECT", ""}}},
        {"NotJson", "{\"name\":", {{"NOT_JSON", ""}}},
    };
}

void PrintTo(const campaign_case& c, std::ostream* os) {
    *os << c.name;
}

class SpoolReaderCampaignRules : public ::testing::TestWithParam<campaign_case> {};

TEST_P(SpoolReaderCampaignRules, RejectsWithEveryProblem) {
    const auto& c = GetParam();
    const auto r = read_campaign(c.text);
    EXPECT_TRUE(r.report.rejected);
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& p : r.report.problems) {
        got.emplace_back(p.code, p.field);
    }
    EXPECT_EQ(got, c.problems) << dump(r.report);
    EXPECT_TRUE(r.sink.batches.empty());
}

INSTANTIATE_TEST_SUITE_P(Documented, SpoolReaderCampaignRules, ::testing::ValuesIn(campaign_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(SpoolReaderCampaign, ProblemLinesPointAtTheField) {
    const auto r = read_campaign(
        "{\n\"instanceId\": \"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\n\"name\": \"n\",\n"
        "\"schedule\": \"later\",\n\"recipients\": {\"type\": \"all\"},\n"
        "\"type\": \"image\",\n\"body\": \"x\"\n}");
    EXPECT_TRUE(r.has("INVALID_TIME", "schedule", 4)) << dump(r.report);
    EXPECT_TRUE(r.has("MISSING_MEDIA_URL", "mediaUrl", 1)) << dump(r.report);  // absent: the object's start
    const auto typed = read_campaign(
        "{\n\"instanceId\": \"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\n\"name\": \"n\",\n"
        "\"schedule\": \"2026-11-27T08:00:00Z\",\n\"recipients\": {\"type\": \"all\"},\n"
        "\"type\": \"sticker\",\n\"body\": \"x\"\n}");
    EXPECT_TRUE(typed.has("INVALID_TYPE", "type", 6)) << dump(typed.report);
}

}  // namespace
}  // namespace msgflash::spool
