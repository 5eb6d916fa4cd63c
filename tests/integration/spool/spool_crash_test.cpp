// Crash safety of the spool (issue 4): a child process ingesting files is killed with SIGKILL at random
// moments, then run again. After every kill: each file in accepted/ has all its jobs, each batch has all its
// jobs or none (one transaction per file), none twice, PRAGMA integrity_check ok. After every restart: the
// files left in incoming/ are in, and the queue holds exactly the jobs dropped, once.
// Seeded: the seed is printed; MSGFLASH_CRASH_SEED=<n> replays a run.
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <random>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/unit/spool/spool_io_support.hpp"

namespace msgflash::spool {
namespace {

using namespace msgflash::spool::test;
using clock_type = std::chrono::steady_clock;

// Issue 4: at least 50 kill/restart cycles.
constexpr int cycles = 50;
// Jobs per file ("a few thousand"): a batch file and a line file are dropped each cycle.
constexpr std::size_t batch_jobs = 2'000;
constexpr std::size_t line_jobs = 1'000;
// Every this many cycles, a file dropped earlier comes back under a new name (a re-drop across crashes).
constexpr int redrop_every = 5;

pid_t spawn(const fs::path& spool, const fs::path& db) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Quiet: the restarts' lines would drown the test's output.
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        ::execl(MSGFLASH_SPOOL_INGEST, MSGFLASH_SPOOL_INGEST, spool.c_str(), db.c_str(), nullptr);
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

std::uint64_t seed_from_env() {
    if (const char* s = std::getenv("MSGFLASH_CRASH_SEED")) {
        return std::strtoull(s, nullptr, 10);
    }
    return std::random_device{}();
}

TEST(SpoolCrash, KilledAtRandomMomentsNothingLostNothingTwice) {
    const std::uint64_t seed = seed_from_env();
    std::cout << "spool crash test seed: " << seed << " (MSGFLASH_CRASH_SEED=" << seed << " replays it)\n";
    RecordProperty("seed", std::to_string(seed));
    std::mt19937_64 rng(seed);

    temp_dir root;
    const fs::path spool = root.path() / "spool";
    const fs::path incoming = spool / "incoming";
    const fs::path db = root.path() / "queue.db";
    fs::create_directories(incoming);

    std::map<std::string, std::string> batch_of;     // dropped name → batch id
    std::map<std::string, std::int64_t> expected;    // batch id → jobs
    std::map<std::string, std::string> content_of;   // batch file name → content (for re-drops)
    auto full_run = std::chrono::milliseconds(200);  // the kill window follows the restarts' duration
    int killed = 0;
    int finished_before_kill = 0;

    for (int c = 0; c < cycles; ++c) {
        const std::string a = fmt::format("crash-{:02}-a", c);
        const std::string b = fmt::format("crash-{:02}-b", c);
        content_of[a + ".json"] = batch_file(a, batch_jobs, static_cast<std::size_t>(c) * batch_jobs);
        drop(incoming, a + ".json", content_of[a + ".json"]);
        drop(incoming, b + ".ndjson", line_file(b, line_jobs, static_cast<std::size_t>(c) * line_jobs));
        batch_of[a + ".json"] = a;
        batch_of[b + ".ndjson"] = b;
        expected[a] = batch_jobs;
        expected[b] = line_jobs;
        if (c > 0 && c % redrop_every == 0) {
            const std::string earlier = fmt::format("crash-{:02}-a", c / 2);
            const std::string name = fmt::format("redrop-{:02}.json", c);
            drop(incoming, name, content_of[earlier + ".json"]);
            batch_of[name] = earlier;
        }

        // Run, and kill it somewhere between its start and a little past where a full run would end.
        const auto kill_after = std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::microseconds>(full_run).count() * 6 / 5)(rng));
        const pid_t pid = spawn(spool, db);
        std::this_thread::sleep_for(kill_after);  // the random moment, not a synchronisation
        ::kill(pid, SIGKILL);
        const int status = wait_exit(pid);
        if (WIFSIGNALED(status)) {
            ++killed;
        } else {
            ++finished_before_kill;
        }

        // A kill before the queue had its schema (a slow start on a busy machine) leaves nothing to check but
        // that no file was accepted.
        if (!fs::exists(db) || !db_view(db).has_table("jobs")) {
            ASSERT_TRUE(names_in(spool / "accepted").empty())
                << "cycle " << c << ": accepted/ without a queue";
        } else {
            db_view v(db);
            ASSERT_EQ(v.integrity(), "ok") << "cycle " << c << " after the kill";
            ASSERT_EQ(v.all_jobs(), v.distinct_jobs()) << "cycle " << c;
            for (const auto& [batch, n] : expected) {
                const auto have = v.jobs(batch);
                ASSERT_TRUE(have == 0 || have == n)
                    << "cycle " << c << ": batch " << batch << " has " << have;
            }
            for (const auto& name : names_in(spool / "accepted")) {
                ASSERT_EQ(v.jobs(batch_of.at(name)), expected.at(batch_of.at(name)))
                    << "cycle " << c << ": " << name << " is in accepted/ without all its jobs";
            }
        }

        // Restart: it takes what the killed one left in incoming/.
        const auto started = clock_type::now();
        const int restart = wait_exit(spawn(spool, db));
        full_run =
            std::max(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started),
                     std::chrono::milliseconds(20));
        ASSERT_TRUE(WIFEXITED(restart) && WEXITSTATUS(restart) == 0)
            << "cycle " << c << " restart: " << restart;

        db_view v(db);
        ASSERT_EQ(v.integrity(), "ok") << "cycle " << c << " after the restart";
        ASSERT_TRUE(names_in(incoming).empty()) << "cycle " << c;
        ASSERT_TRUE(names_in(spool / "rejected").empty()) << "cycle " << c;
        ASSERT_EQ(names_in(spool / "accepted").size(), batch_of.size()) << "cycle " << c;
        std::int64_t total = 0;
        for (const auto& [batch, n] : expected) {
            ASSERT_EQ(v.jobs(batch), n) << "cycle " << c << ": batch " << batch;
            total += n;
        }
        ASSERT_EQ(v.all_jobs(), total) << "cycle " << c;
        ASSERT_EQ(v.distinct_jobs(), total) << "cycle " << c;
    }
    std::cout << "cycles: " << cycles << ", killed mid-run: " << killed
              << ", finished before the kill: " << finished_before_kill << "\n";
    // The kill window is adapted so that most kills land inside a run.
    EXPECT_GE(killed, cycles / 2);
}

}  // namespace
}  // namespace msgflash::spool
