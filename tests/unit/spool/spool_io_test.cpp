// The spool on disk: safe open, the error report, the ingester (real files, a real queue database) and the
// watcher's thread.
#include <condition_variable>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "spool/error_report.hpp"
#include "spool/safe_open.hpp"
#include "spool/spool_watcher.hpp"
#include "spool_io_support.hpp"

namespace msgflash::spool {
namespace {

namespace json = boost::json;
using namespace msgflash::spool::test;
using namespace std::chrono_literals;

// ---- safe open -------------------------------------------------------------------------------------------

TEST(SpoolNames, WhitelistAndFilesStillBeingWritten) {
    EXPECT_EQ(check_name("shop.json").verdict, name_class::candidate);
    EXPECT_EQ(check_name("a.campaign.json").verdict, name_class::candidate);
    EXPECT_EQ(check_name("otp.ndjson").verdict, name_class::candidate);
    EXPECT_EQ(check_name("otp.jsonl").verdict, name_class::candidate);
    EXPECT_EQ(check_name("é-ünïcode.json").verdict, name_class::candidate);
    EXPECT_EQ(check_name(".shop.json").verdict, name_class::in_progress);
    EXPECT_EQ(check_name("shop.json.tmp").verdict, name_class::in_progress);
    EXPECT_EQ(check_name("shop.txt").verdict, name_class::bad);
    EXPECT_EQ(check_name(".json").verdict, name_class::in_progress);
    EXPECT_EQ(check_name("json").verdict, name_class::bad);
    EXPECT_EQ(check_name("bad\xff.json").verdict, name_class::bad);
    EXPECT_EQ(check_name("over\xc0\xaflong.json").verdict, name_class::bad);  // overlong '/'
    EXPECT_EQ(check_name("tab\there.json").verdict, name_class::bad);
    EXPECT_EQ(check_name("c1\xc2\x85.json").verdict, name_class::bad);  // U+0085 NEL
    EXPECT_EQ(check_name(std::string(max_name_bytes - 5, 'a') + ".json").verdict, name_class::candidate);
    EXPECT_EQ(check_name(std::string(max_name_bytes, 'a') + ".json").verdict, name_class::bad);
}

TEST(SpoolNames, ReDropSuffixKeepsTheKind) {
    EXPECT_EQ(suffixed_name("shop.json", 0), "shop.json");
    EXPECT_EQ(suffixed_name("shop.json", 2), "shop~2.json");
    EXPECT_EQ(suffixed_name("x.campaign.json", 1), "x~1.campaign.json");
    EXPECT_EQ(suffixed_name("otp.ndjson", 3), "otp~3.ndjson");
    EXPECT_EQ(suffixed_name("readme.txt", 1), "readme.txt~1");
    EXPECT_EQ(suffixed_name(std::string(250, 'a'), 1), std::string(max_name_bytes, 'a') + "~1");
}

TEST(SpoolNames, PrintableAndValidUtf8) {
    EXPECT_EQ(printable_name("a\nb\xff.json"), "a\\x0ab\\xff.json");
    EXPECT_EQ(printable_name("é.json"), "é.json");
    EXPECT_EQ(valid_utf8("a\xff"
                         "b"),
              "a\xEF\xBF\xBD"
              "b");
}

class SafeOpen : public ::testing::Test {
  protected:
    void SetUp() override {
        fs::create_directories(dir());
        fd_.reset(::open(dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(fd_);
    }
    fs::path dir() const { return root_.path() / "incoming"; }
    open_outcome open(std::string_view name, std::uint64_t max = 1'000) const {
        return safe_open(fd_.get(), name, max);
    }
    static std::string code(const open_outcome& o) {
        return o.refused ? std::string(code_of(o.refused->kind)) : std::string("OK");
    }

    temp_dir root_;
    unique_fd fd_;
};

TEST_F(SafeOpen, RegularFileOpens) {
    write_file(dir() / "ok.json", "{}");
    const auto o = open("ok.json");
    ASSERT_EQ(code(o), "OK");
    EXPECT_EQ(o.file.size, 2u);
    char buf[4] = {};
    EXPECT_EQ(::read(o.file.fd.get(), buf, sizeof buf), 2);  // blocking reads again (O_NONBLOCK cleared)
    EXPECT_EQ(::fcntl(o.file.fd.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(SafeOpen, SymlinksAreNeverFollowed) {
    write_file(root_.path() / "outside.json", "{}");
    fs::create_symlink(root_.path() / "outside.json", dir() / "link.json");
    fs::create_directory_symlink(root_.path(), dir() / "dirlink.json");
    fs::create_symlink("/nonexistent/x.json", dir() / "dangling.json");
    EXPECT_EQ(code(open("link.json")), "SYMLINK");
    EXPECT_EQ(code(open("dirlink.json")), "SYMLINK");
    EXPECT_EQ(code(open("dangling.json")), "SYMLINK");
    EXPECT_EQ(fate_of(refusal_kind::symlink), refusal_fate::reject);
}

TEST_F(SafeOpen, RefusesWhatIsNotOneRegularFileOfAGoodSize) {
    write_file(root_.path() / "outside.json", "{}");
    fs::create_hard_link(root_.path() / "outside.json", dir() / "hard.json");
    ASSERT_EQ(::mkfifo((dir() / "fifo.json").c_str(), 0600), 0);
    fs::create_directory(dir() / "sub.json");
    write_file(dir() / "big.json", std::string(1'001, ' '));
    write_file(dir() / "empty.json", "");
    write_file(dir() / "bad.txt", "{}");
    fs::create_directory(dir() / "subdir-bad-name");

    EXPECT_EQ(code(open("hard.json")), "HARD_LINK");
    EXPECT_EQ(code(open("fifo.json")), "NOT_REGULAR");  // and returns: never opened, never blocks
    EXPECT_EQ(code(open("sub.json")), "DIRECTORY");
    EXPECT_EQ(code(open("subdir-bad-name")), "DIRECTORY");
    EXPECT_EQ(code(open("big.json")), "TOO_LARGE");
    EXPECT_EQ(code(open("big.json", 1'001)), "OK");
    EXPECT_EQ(code(open("empty.json")), "EMPTY");
    EXPECT_EQ(code(open("bad.txt")), "BAD_NAME");
    EXPECT_EQ(code(open("gone.json")), "VANISHED");
    write_file(dir() / ".hidden.json", "{}");
    EXPECT_EQ(code(open(".hidden.json")), "IN_PROGRESS");
    EXPECT_EQ(fate_of(refusal_kind::directory), refusal_fate::leave);
    EXPECT_EQ(fate_of(refusal_kind::io_error), refusal_fate::retry);
}

TEST_F(SafeOpen, ChangeDetection) {
    write_file(dir() / "a.json", "{}");
    const auto o = open("a.json");
    ASSERT_EQ(code(o), "OK");
    struct stat now {};
    ASSERT_EQ(::fstat(o.file.fd.get(), &now), 0);
    EXPECT_TRUE(same_content(o.file.st, now));
    write_file(dir() / "a.json", "{} ");
    ASSERT_EQ(::fstat(o.file.fd.get(), &now), 0);
    EXPECT_FALSE(same_content(o.file.st, now));
}

// ---- error report ----------------------------------------------------------------------------------------

TEST(ErrorReport, ShapeOfSpecSection3) {
    const std::vector<problem> ps{{3, "recipients[0].to", "INVALID_DESTINATION", "not E.164"},
                                  {0, "", "NOT_JSON", "bad \xff byte"}};
    const auto v = json::parse(error_report_json("shop\xfe.json", ps));
    EXPECT_EQ(v.at("file").as_string(), "shop\xEF\xBF\xBD.json");
    const auto& errors = v.at("errors").as_array();
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(errors[0].at("line").to_number<int>(), 3);
    EXPECT_EQ(errors[0].at("field").as_string(), "recipients[0].to");
    EXPECT_EQ(errors[0].at("code").as_string(), "INVALID_DESTINATION");
    EXPECT_EQ(errors[0].at("message").as_string(), "not E.164");
    EXPECT_EQ(errors[1].at("message").as_string(), "bad \xEF\xBF\xBD byte");
    EXPECT_EQ(v.as_object().size(), 2u);
}

TEST(ErrorReport, WrittenAtomicallyAndNeverOverwritten) {
    temp_dir root;
    unique_fd fd(::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_FALSE(write_file_atomically(fd.get(), "a.json.error.json", "one"));
    EXPECT_EQ(write_file_atomically(fd.get(), "a.json.error.json", "two"), std::errc::file_exists);
    EXPECT_EQ(read_file(root.path() / "a.json.error.json"), "one");
    EXPECT_EQ(names_in(root.path()), std::vector<std::string>{"a.json.error.json"});  // no temp file left
}

// ---- ingester --------------------------------------------------------------------------------------------

class Ingester : public ::testing::Test {
  protected:
    file_report ingest(const std::string& name) { return f_.ingester->ingest(name); }
    file_report drop_and_ingest(const std::string& name, std::string_view content) {
        drop(f_.incoming(), name, content);
        return ingest(name);
    }
    json::value report_of(const std::string& name) { return json::parse(read_file(f_.rejected() / name)); }
    std::vector<std::string> codes_in(const std::string& report) {
        std::vector<std::string> out;
        const json::value v = report_of(report);
        for (const auto& e : v.at("errors").as_array()) {
            out.emplace_back(e.at("code").as_string());
        }
        return out;
    }

    spool_fixture f_;
};

TEST_F(Ingester, AcceptsAFileAfterItsCommit) {
    const auto r = drop_and_ingest("shop.json", batch_file("b1", 50));
    EXPECT_EQ(r.outcome, file_outcome::accepted) << r.reason;
    EXPECT_EQ(r.moved_to, "shop.json");
    EXPECT_EQ(r.batches, 1u);
    EXPECT_EQ(r.jobs, 50u);
    EXPECT_EQ(r.inserted, 50u);
    EXPECT_EQ(r.already_present, 0u);
    EXPECT_TRUE(r.problems.empty());
    EXPECT_TRUE(names_in(f_.incoming()).empty());
    EXPECT_EQ(names_in(f_.accepted()), std::vector<std::string>{"shop.json"});
    EXPECT_TRUE(names_in(f_.rejected()).empty());
    db_view db(f_.db());
    EXPECT_EQ(db.jobs("b1"), 50);
    EXPECT_EQ(
        f_.log.count("spool: shop.json accepted as accepted/shop.json: 1 batches, 50 jobs read, 50 inserted"),
        1u);
}

TEST_F(Ingester, ReDropOfTheSameFileQueuesNothingTwice) {
    const std::string content = batch_file("b1", 20);
    ASSERT_EQ(drop_and_ingest("shop.json", content).outcome, file_outcome::accepted);
    const auto again = drop_and_ingest("shop.json", content);
    EXPECT_EQ(again.outcome, file_outcome::accepted) << again.reason;
    EXPECT_EQ(again.inserted, 0u);
    EXPECT_EQ(again.already_present, 20u);
    EXPECT_EQ(again.moved_to, "shop~1.json");  // accepted/shop.json is never overwritten
    const auto third = drop_and_ingest("shop.json", content);
    EXPECT_EQ(third.moved_to, "shop~2.json");
    EXPECT_EQ(read_file(f_.accepted() / "shop.json"), content);
    EXPECT_EQ(db_view(f_.db()).all_jobs(), 20);
}

TEST_F(Ingester, SameBatchIdUnderAnotherNameAndSameContentIsAlreadyPresent) {
    ASSERT_EQ(drop_and_ingest("a.json", batch_file("b1", 10)).outcome, file_outcome::accepted);
    const auto r = drop_and_ingest("b.json", batch_file("b1", 10));
    EXPECT_EQ(r.outcome, file_outcome::accepted) << r.reason;
    EXPECT_EQ(r.already_present, 10u);
    EXPECT_EQ(r.inserted, 0u);
    EXPECT_EQ(db_view(f_.db()).jobs("b1"), 10);
}

TEST_F(Ingester, SameBatchIdWithOtherContentIsAConflict) {
    ASSERT_EQ(drop_and_ingest("a.json", batch_file("b1", 10)).outcome, file_outcome::accepted);
    const auto r = drop_and_ingest("b.json", batch_file("b1", 10, 0, "Other {{name}}"));
    EXPECT_EQ(r.outcome, file_outcome::rejected) << r.reason;
    EXPECT_EQ(r.conflicts, 1u);
    EXPECT_EQ(r.inserted, 0u);
    EXPECT_EQ(names_in(f_.rejected()), (std::vector<std::string>{"b.json", "b.json.error.json"}));
    EXPECT_EQ(codes_in("b.json.error.json").at(0), "BATCH_CONFLICT");
    EXPECT_EQ(report_of("b.json.error.json").at("errors").at(0).at("field").as_string(), "batch");
    EXPECT_EQ(db_view(f_.db()).jobs("b1"), 10);
    EXPECT_EQ(f_.log.count("b.json rejected as rejected/b.json; 1 problems, first BATCH_CONFLICT"), 1u);
}

TEST_F(Ingester, LineFilesAreIdempotentToo) {
    ASSERT_EQ(drop_and_ingest("otp.ndjson", line_file("otp", 30)).outcome, file_outcome::accepted);
    // The same lines and ten more, in a file of another name: only the new ten are queued.
    const auto r = drop_and_ingest("otp2.jsonl", line_file("otp", 40));
    EXPECT_EQ(r.outcome, file_outcome::accepted) << r.reason;
    EXPECT_EQ(r.inserted, 10u);
    EXPECT_EQ(r.already_present, 30u);
    EXPECT_EQ(db_view(f_.db()).jobs("otp"), 40);
}

TEST_F(Ingester, SkippedRecipientsAreReportedBesideAnAcceptedFile) {
    std::string content = batch_file("b1", 3);
    const auto at = content.find("+33600000001");
    content.replace(at, 12, "+1-not-e164!");
    const auto r = drop_and_ingest("shop.json", content);
    EXPECT_EQ(r.outcome, file_outcome::accepted) << r.reason;
    EXPECT_EQ(r.inserted, 2u);
    EXPECT_EQ(r.skipped, 1u);
    EXPECT_EQ(r.report_file, "shop.json.error.json");
    EXPECT_EQ(names_in(f_.accepted()), std::vector<std::string>{"shop.json"});
    EXPECT_EQ(names_in(f_.rejected()), std::vector<std::string>{"shop.json.error.json"});
    const auto e = report_of("shop.json.error.json").at("errors").at(0);
    EXPECT_EQ(e.at("code").as_string(), "INVALID_DESTINATION");
    EXPECT_EQ(e.at("line").to_number<int>(), 4);  // header, "recipients":[, then one recipient per line
}

TEST_F(Ingester, ABadFileIsRejectedWithItsReportAndNothingQueued) {
    const auto r = drop_and_ingest("bad.json", "{\"batch\": \"b1\", \"recipients\": [");
    EXPECT_EQ(r.outcome, file_outcome::rejected);
    EXPECT_EQ(names_in(f_.rejected()), (std::vector<std::string>{"bad.json", "bad.json.error.json"}));
    EXPECT_FALSE(codes_in("bad.json.error.json").empty());
    EXPECT_EQ(db_view(f_.db()).all_jobs(), 0);
    // The same bad name again: a second pair, nothing overwritten.
    ASSERT_EQ(drop_and_ingest("bad.json", "nope").outcome, file_outcome::rejected);
    EXPECT_EQ(names_in(f_.rejected()), (std::vector<std::string>{"bad.json", "bad.json.error.json",
                                                                 "bad~1.json", "bad~1.json.error.json"}));
}

TEST_F(Ingester, RefusedNodesGoToRejectedWithoutBeingRead) {
    const std::string secret = "SECRET-OUTSIDE-CONTENT";
    write_file(f_.root.path() / "outside.json", secret);
    fs::create_symlink(f_.root.path() / "outside.json", f_.incoming() / "link.json");
    ASSERT_EQ(::mkfifo((f_.incoming() / "fifo.json").c_str(), 0600), 0);
    write_file(f_.incoming() / "empty.json", "");
    write_file(f_.incoming() / "notes.txt", "hello");

    for (const auto& [name, code] : std::map<std::string, std::string>{{"link.json", "SYMLINK"},
                                                                       {"fifo.json", "NOT_REGULAR"},
                                                                       {"empty.json", "EMPTY"},
                                                                       {"notes.txt", "BAD_NAME"}}) {
        const auto r = ingest(name);
        EXPECT_EQ(r.outcome, file_outcome::rejected) << name;
        EXPECT_EQ(r.code, code) << name;
        EXPECT_EQ(codes_in(name + ".error.json"), std::vector<std::string>{code});
    }
    // The link itself moved, still pointing where it pointed; its target untouched.
    EXPECT_TRUE(fs::is_symlink(f_.rejected() / "link.json"));
    EXPECT_TRUE(fs::is_fifo(f_.rejected() / "fifo.json"));
    EXPECT_EQ(read_file(f_.root.path() / "outside.json"), secret);
    for (const auto& n : names_in(f_.rejected())) {
        if (n.ends_with(".error.json")) {
            EXPECT_EQ(read_file(f_.rejected() / n).find(secret), std::string::npos);
        }
    }
    EXPECT_TRUE(names_in(f_.incoming()).empty());
}

TEST_F(Ingester, ADirectoryIsLeftAloneAndLoggedOnce) {
    fs::create_directory(f_.incoming() / "sub.json");
    EXPECT_EQ(ingest("sub.json").outcome, file_outcome::ignored);
    EXPECT_EQ(ingest("sub.json").outcome, file_outcome::ignored);
    EXPECT_TRUE(fs::is_directory(f_.incoming() / "sub.json"));
    EXPECT_EQ(f_.log.count("sub.json is a directory"), 1u);
}

TEST_F(Ingester, AStoreThatCannotTakeItLeavesTheFileForTheNextScan) {
    drop(f_.incoming(), "shop.json", batch_file("b1", 10));
    f_.queue().close();
    const auto r = ingest("shop.json");
    EXPECT_EQ(r.outcome, file_outcome::retry);
    EXPECT_EQ(names_in(f_.incoming()), std::vector<std::string>{"shop.json"});
    EXPECT_TRUE(names_in(f_.rejected()).empty());
    EXPECT_EQ(f_.log.count("shop.json left in incoming/ to retry"), 1u);
}

TEST_F(Ingester, AStopRequestGivesTheFileUp) {
    drop(f_.incoming(), "shop.json", batch_file("b1", 5'000));
    std::stop_source stop;
    stop.request_stop();
    const auto r = f_.ingester->ingest("shop.json", stop.get_token());
    EXPECT_EQ(r.outcome, file_outcome::retry);
    EXPECT_EQ(names_in(f_.incoming()), std::vector<std::string>{"shop.json"});
    EXPECT_EQ(db_view(f_.db()).all_jobs(), 0);
    // And the next attempt takes it whole.
    EXPECT_EQ(ingest("shop.json").inserted, 5'000u);
}

TEST_F(Ingester, DotFilesAndTmpFilesAreNotTouched) {
    write_file(f_.incoming() / ".shop.json", batch_file("b1", 1));
    write_file(f_.incoming() / "shop.json.tmp", batch_file("b1", 1));
    EXPECT_EQ(ingest(".shop.json").outcome, file_outcome::ignored);
    EXPECT_EQ(ingest("shop.json.tmp").outcome, file_outcome::ignored);
    EXPECT_EQ(names_in(f_.incoming()).size(), 2u);
}

// ---- watcher ---------------------------------------------------------------------------------------------

// Records what the watcher hands over; lets a test wait for a name (bounded: a failing test must not hang).
class handled_names {
  public:
    void add(const std::string& name) {
        std::lock_guard lock(m_);
        ++count_[name];
        cv_.notify_all();
    }
    bool wait_for(const std::string& name, int times = 1) {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, 20s, [&] { return count_[name] >= times; });
    }
    int count(const std::string& name) {
        std::lock_guard lock(m_);
        return count_[name];
    }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    std::map<std::string, int> count_;
};

class Watcher : public ::testing::Test {
  protected:
    void SetUp() override { fs::create_directories(root_.path() / "incoming"); }
    fs::path incoming() const { return root_.path() / "incoming"; }

    std::unique_ptr<spool_watcher> make(std::chrono::milliseconds rescan, spool_watcher::handler h = {}) {
        fd_.reset(::open(incoming().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!h) {
            h = [this](const std::string& name, std::stop_token) { seen_.add(name); };
        }
        std::error_code ec;
        auto w = spool_watcher::create(fd_.get(), {.rescan_interval = rescan, .logger = log_.logger},
                                       std::move(h), ec);
        EXPECT_TRUE(w) << ec.message();
        return w;
    }

    temp_dir root_;
    unique_fd fd_;
    captured_log log_;
    handled_names seen_;
};

TEST_F(Watcher, FilesPresentAtStartThenEventsIgnoringDotAndTmpFiles) {
    write_file(incoming() / "before.json", "{}");
    auto w = make(1h);
    w->start();
    ASSERT_TRUE(seen_.wait_for("before.json"));
    write_file(incoming() / ".partial.json", "{}");
    write_file(incoming() / "x.json.tmp", "{}");
    drop(incoming(), "renamed.json", "{}");           // IN_MOVED_TO
    write_file(incoming() / "written.ndjson", "{}");  // IN_CLOSE_WRITE
    ASSERT_TRUE(seen_.wait_for("renamed.json"));
    ASSERT_TRUE(seen_.wait_for("written.ndjson"));
    w->stop();
    EXPECT_EQ(seen_.count(".partial.json"), 0);
    EXPECT_EQ(seen_.count("x.json.tmp"), 0);
    EXPECT_EQ(seen_.count(".renamed.json.part"), 0);
    EXPECT_EQ(w->stats().scans, 1u);
    EXPECT_GE(w->stats().events, 2u);
}

TEST_F(Watcher, AScanFindsWhatNoEventAnnounced) {
    auto w = make(1h);
    w->start();
    drop(incoming(), "first.json", "{}");
    ASSERT_TRUE(seen_.wait_for("first.json"));  // the start scan is over
    // A hard link makes IN_CREATE only: nothing the watcher listens to.
    write_file(root_.path() / "elsewhere.json", "{}");
    fs::create_hard_link(root_.path() / "elsewhere.json", incoming() / "linked.json");
    w->request_scan();
    ASSERT_TRUE(seen_.wait_for("linked.json"));
    w->stop();
    EXPECT_EQ(w->stats().scans, 2u);
}

TEST_F(Watcher, PeriodicRescansRetryFilesLeftInIncoming) {
    write_file(incoming() / "stays.json", "{}");
    auto w = make(5ms);  // the handler leaves the file where it is, as the ingester does on a retry
    w->start();
    ASSERT_TRUE(seen_.wait_for("stays.json", 3));
    w->stop();
    EXPECT_GE(w->stats().scans, 3u);
}

TEST_F(Watcher, StopIsPromptEvenDuringALongFile) {
    std::mutex m;
    std::condition_variable_any cv;
    write_file(incoming() / "huge.json", "{}");
    auto w = make(1h, [&](const std::string& name, std::stop_token st) {
        seen_.add(name);
        std::unique_lock lock(m);
        cv.wait(lock, st, [] { return false; });  // returns only when stop is requested
    });
    w->start();
    ASSERT_TRUE(seen_.wait_for("huge.json"));
    w->stop();  // would hang here if the handler's stop_token were not signalled
    w->stop();  // idempotent
    EXPECT_EQ(w->stats().handled, 1u);
}

TEST_F(Watcher, DrivesTheIngester) {
    spool_fixture f;
    std::error_code ec;
    auto w = spool_watcher::create(
        f.dirs->incoming(), {.rescan_interval = 1h, .logger = f.log.logger},
        [&](const std::string& name, std::stop_token st) {
            f.ingester->ingest(name, st);
            seen_.add(name);
        },
        ec);
    ASSERT_TRUE(w) << ec.message();
    drop(f.incoming(), "early.json", batch_file("e", 10));
    w->start();
    drop(f.incoming(), "late.ndjson", line_file("l", 10));
    ASSERT_TRUE(seen_.wait_for("early.json"));
    ASSERT_TRUE(seen_.wait_for("late.ndjson"));
    w->stop();
    EXPECT_EQ(names_in(f.accepted()), (std::vector<std::string>{"early.json", "late.ndjson"}));
    EXPECT_EQ(db_view(f.db()).all_jobs(), 20);
}

}  // namespace
}  // namespace msgflash::spool
