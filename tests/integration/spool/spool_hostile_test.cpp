// A hostile spool (issue 4): one scan of an incoming/ holding a symlink to a file outside the spool, a hard
// link, a FIFO, a directory, a file over the size cap, an empty file, a name that is not UTF-8, content that
// is not UTF-8, JSON nested 10,000 deep and one 100 MB line, beside good files. Each is refused or rejected
// with a clear code, nothing hangs, nothing outside the spool is read, and the good files still go in.
#include <fcntl.h>
#include <map>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "spool/spool_watcher.hpp"
#include "tests/unit/spool/spool_io_support.hpp"

namespace msgflash::spool {
namespace {

namespace json = boost::json;
using namespace msgflash::spool::test;

// "A modest max_file_bytes above 100 MB" for the long-line case (issue 4).
constexpr std::uint64_t max_file_bytes = 128ull << 20;
constexpr std::uint64_t long_line_bytes = 100ull << 20;
constexpr int deep_nesting = 10'000;
// The long line must not be buffered: the test's peak RSS may grow by far less than the line.
constexpr long max_rss_growth_kib = 48 * 1024;

const std::string secret = "OUTSIDE-SECRET-3f1e";

long peak_rss_kib() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// incoming/<name>: a head, `body_bytes` copies of `fill` written 1 MiB at a time, a tail.
void write_streamed(const fs::path& p, std::string_view head, std::uint64_t body_bytes, char fill,
                    std::string_view tail) {
    std::ofstream out(p, std::ios::binary);
    out << head;
    const std::string chunk(1 << 20, fill);
    for (std::uint64_t left = body_bytes; left > 0;) {
        const auto n = std::min<std::uint64_t>(left, chunk.size());
        out.write(chunk.data(), static_cast<std::streamsize>(n));
        left -= n;
    }
    out << tail;
}

std::vector<std::string> codes(const json::value& report) {
    std::vector<std::string> out;
    for (const auto& e : report.at("errors").as_array()) {
        out.emplace_back(e.at("code").as_string());
    }
    return out;
}

bool has(const std::vector<std::string>& v, std::string_view code) {
    return std::find(v.begin(), v.end(), code) != v.end();
}

TEST(SpoolHostile, EveryBadFileRefusedTheGoodOnesIn) {
    spool_fixture f(ingester_options{.max_file_bytes = max_file_bytes});
    const fs::path in = f.incoming();
    write_file(f.root.path() / "outside.json", batch_file(secret, 3));

    // Good files, before and after the bad ones in the scan's order.
    drop(in, "0-good.json", batch_file("good-a", 100));
    drop(in, "z-good.ndjson", line_file("good-b", 50));
    // The bad ones.
    fs::create_symlink(f.root.path() / "outside.json", in / "link.json");
    fs::create_hard_link(f.root.path() / "outside.json", in / "hard.json");
    ASSERT_EQ(::mkfifo((in / "fifo.json").c_str(), 0600), 0);
    fs::create_directory(in / "dir.json");
    {
        unique_fd big(::open((in / "big.json").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
        ASSERT_EQ(::ftruncate(big.get(), static_cast<off_t>(max_file_bytes + 1)),
                  0);  // sparse: costs nothing
    }
    write_file(in / "empty.json", "");
    const std::string bad_name = "bad-\xff\xfe-name.json";
    drop(in, bad_name, batch_file("bad-name", 2));
    std::string latin1 = batch_file("latin1", 2);
    latin1.replace(latin1.find("Hi"), 2, "H\xe9");  // "Hé" in ISO-8859-1
    drop(in, "latin1.json", latin1);
    drop(in, "deep.json", std::string(deep_nesting, '[') + std::string(deep_nesting, ']'));
    drop(in, "deep.ndjson", std::string(deep_nesting, '[') + std::string(deep_nesting, ']') + "\n");
    write_streamed(in / "long.ndjson", R"({"batch":"long","body":")", long_line_bytes, 'a',
                   "\"}\n" + line_file("long", 1));

    const long rss_before = peak_rss_kib();
    std::map<std::string, file_report> reports;
    std::error_code ec;
    for (const auto& name : list_incoming(f.dirs->incoming(), ec)) {
        reports[name] = f.ingester->ingest(name);
    }
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_LT(peak_rss_kib() - rss_before, max_rss_growth_kib) << "the 100 MB line was buffered";

    // The good files, whole.
    db_view db(f.db());
    EXPECT_EQ(reports.at("0-good.json").outcome, file_outcome::accepted);
    EXPECT_EQ(reports.at("z-good.ndjson").outcome, file_outcome::accepted);
    EXPECT_EQ(db.jobs("good-a"), 100);
    EXPECT_EQ(db.jobs("good-b"), 50);

    // Refused before reading, each with its code.
    const std::map<std::string, std::string> refused{{"link.json", "SYMLINK"},     {"hard.json", "HARD_LINK"},
                                                     {"fifo.json", "NOT_REGULAR"}, {"big.json", "TOO_LARGE"},
                                                     {"empty.json", "EMPTY"},      {bad_name, "BAD_NAME"}};
    for (const auto& [name, code] : refused) {
        const file_report& r = reports.at(name);
        EXPECT_EQ(r.outcome, file_outcome::rejected) << printable_name(name);
        EXPECT_EQ(r.code, code) << printable_name(name);
        const auto report = json::parse(read_file(f.rejected() / (name + ".error.json")));
        EXPECT_EQ(codes(report), std::vector<std::string>{code}) << printable_name(name);
    }
    // The report names the badly named file in valid UTF-8 (U+FFFD for the bad bytes).
    EXPECT_EQ(json::parse(read_file(f.rejected() / (bad_name + ".error.json"))).at("file").as_string(),
              "bad-\xEF\xBF\xBD\xEF\xBF\xBD-name.json");
    // The directory stays, logged once.
    EXPECT_EQ(reports.at("dir.json").outcome, file_outcome::ignored);
    EXPECT_TRUE(fs::is_directory(in / "dir.json"));
    EXPECT_EQ(f.log.count("dir.json is a directory"), 1u);

    // Read, and rejected for what is inside.
    const std::map<std::string, std::string> bad_content{
        {"latin1.json", "INVALID_UTF8"}, {"deep.json", "TOO_DEEP"}, {"deep.ndjson", "TOO_DEEP"}};
    for (const auto& [name, code] : bad_content) {
        EXPECT_EQ(reports.at(name).outcome, file_outcome::rejected) << name;
        const auto c = codes(json::parse(read_file(f.rejected() / (name + ".error.json"))));
        EXPECT_TRUE(has(c, code)) << name << ": " << (c.empty() ? "" : c.front());
    }
    // The 100 MB line is a problem at line 1; the line after it is a job (skip policy) or the file is
    // rejected as a whole — either way, reported with its code.
    const file_report& lr = reports.at("long.ndjson");
    EXPECT_NE(lr.outcome, file_outcome::retry) << lr.reason;
    ASSERT_FALSE(lr.problems.empty());
    EXPECT_EQ(lr.problems.front().code, "LINE_TOO_LONG");
    EXPECT_EQ(lr.problems.front().line, 1u);
    EXPECT_TRUE(fs::exists(f.rejected() / "long.ndjson.error.json"));

    // Nothing but the directory is left in incoming/.
    EXPECT_EQ(names_in(in), std::vector<std::string>{"dir.json"});
    // Nothing outside the spool was read: its content is in no report, no log line, no queued row.
    EXPECT_EQ(db.jobs(secret), 0);
    for (const auto& n : names_in(f.rejected())) {
        if (n.ends_with(".error.json")) {
            EXPECT_EQ(read_file(f.rejected() / n).find(secret), std::string::npos) << n;
        }
    }
    for (const auto& line : f.log.lines()) {
        EXPECT_EQ(line.find(secret), std::string::npos) << line;
    }
    EXPECT_EQ(db.integrity(), "ok");
}

}  // namespace
}  // namespace msgflash::spool
