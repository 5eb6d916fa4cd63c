// The fixture of the tests that run the real msgflashd against msgflash-sim (in process) over loopback: a
// temporary directory with keys, spool and queue, the daemon's configuration, ways to queue jobs (the
// store's ingest, or files dropped in the spool), the queue's counts, and starting and stopping the daemon.
// Header-only, for each test file of this directory (one translation unit each).
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/ingest.hpp"
#include "store/queue_reader.hpp"
#include "store/queue_store.hpp"
#include "store/sqlite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_fixture.hpp"

namespace msgflash::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view shop_number = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
constexpr std::string_view agency_number = "9f8b2c4d-6e1a-4b3c-8d7e-5a2f1c0b9e84";
// How often the test looks at the queue or the daemon while it waits for them (a poll, bounded by a
// deadline, never a stand-in for synchronisation).
constexpr auto poll_interval = 50ms;
constexpr auto shutdown_grace = 5s;
// pacing.jitter_bound for these runs. The pacer's bound holds while the delay from a pacing decision to the
// server's arrival stamp varies by less than this (core/pacer.hpp). Here the simulator runs inside this test
// process, and under ASan on two cores the daemon, the simulator's threads and this test's polls share the
// cores: with the daemon's 20 ms default, each of four ASan runs had a window holding 11 arrivals (one
// 429 per key); with 150 ms, none in three. The assertions stay exact for the tolerance declared.
constexpr std::string_view jitter_bound = "150ms";

constexpr std::string_view world_toml = R"(
[limits]
enabled = true
window = "1s"

[faults]
seed = 7
latency_min = "5ms"
latency_max = "60ms"

[[accounts]]
name = "shop"
key = "msgf_live_FAKE_shop_key"

[[accounts]]
name = "agency"
key = "msgf_live_FAKE_agency_key"

[[instances]]
id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
account = "shop"
name = "shop-main"
wa_number = "+33612345678"

[[instances]]
id = "9f8b2c4d-6e1a-4b3c-8d7e-5a2f1c0b9e84"
account = "agency"
name = "agency-main"
wa_number = "+4915112345678"

[[templates]]
id = "3f2c8d9e-1b4a-4c6d-9e8f-7a6b5c4d3e2f"
account = "shop"
name = "welcome"
body = "Hi {{name}}"

[[templates]]
id = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716"
account = "agency"
name = "broken"
body = "Hi {{name}}"
valid = false
)";
constexpr std::string_view shop_template = "3f2c8d9e-1b4a-4c6d-9e8f-7a6b5c4d3e2f";
constexpr std::string_view agency_template = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716";

timestamp wall_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

class MsgflashdTest : public ::testing::Test {
  protected:
    explicit MsgflashdTest(std::string_view world = world_toml)
        : sim_(sim::parse_sim_config(world, "world.toml")) {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / fmt::format("msgflashd-test-{:x}", rd());
        fs::create_directories(dir_ / "keys");
        fs::create_directories(dir_ / "spool");
        write_key("shop", "msgf_live_FAKE_shop_key");
        write_key("agency", "msgf_live_FAKE_agency_key");
        write_config();
    }

    // The daemon's configuration; `pacing` goes into [pacing], `extra` is appended (e.g. [[instances]] caps).
    void write_config(std::string_view extra = {}, std::string_view pacing = {}) {
        std::ofstream(dir_ / "msgflashd.toml")
            << fmt::format(R"(shutdown_grace = "{}s"
[api]
base_url = "http://127.0.0.1:{}"
[spool]
dir = "{}"
[queue]
path = "{}"
[admin]
listen = "127.0.0.1:0"
[pacing]
jitter_bound = "{}"
{}
[[accounts]]
name = "shop"
key_file = "{}"
[[accounts]]
name = "agency"
key_file = "{}"
)",
                           shutdown_grace.count(), sim_.port(), (dir_ / "spool").string(), db().string(),
                           jitter_bound, pacing, (dir_ / "keys/shop").string(),
                           (dir_ / "keys/agency").string())
            << extra;
    }

    ~MsgflashdTest() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (HasFailure()) {
            std::cerr << "---- msgflashd.log ----\n"
                      << slurp(dir_ / "msgflashd.log") << "-----------------------\n";
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    fs::path db() const { return dir_ / "queue.db"; }

    void write_key(const std::string& account, const std::string& key) {
        const fs::path p = dir_ / "keys" / account;
        std::ofstream(p) << key << "\n";
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    }

    // Queues `n` jobs per account through the store's ingest session (what the spool ingester does); with
    // `templates`, each account's batch sends its template with a `name` variable per recipient.
    void ingest(int n, std::optional<timestamp> expires_at = std::nullopt,
                std::optional<std::pair<std::string_view, std::string_view>> templates = std::nullopt) {
        store::store_options o;
        o.path = db();
        o.now = wall_now();
        auto opened = store::queue_store::open(o);
        ASSERT_TRUE(opened) << opened.error().message();
        auto& q = **opened;
        auto s = q.begin_ingest(
            {.now = wall_now(), .on_conflict = store::conflict_policy::reject_file, .source = "test"});
        const std::pair<std::string_view, std::string_view> accounts[] = {{"shop", shop_number},
                                                                          {"agency", agency_number}};
        int prefix = 1;
        for (const auto& [account, number] : accounts) {
            const std::string_view template_id = !templates    ? std::string_view{}
                                                 : prefix == 1 ? templates->first
                                                               : templates->second;
            batch_spec b;
            b.id = fmt::format("{}-batch", account);
            b.account = std::string(account);
            b.instance_ids = {std::string(number)};
            b.message_json = template_id.empty() ? std::string(R"({"type":"text","body":"Hi {{name}}"})")
                                                 : fmt::format(R"({{"templateId":"{}"}})", template_id);
            b.expires_at = expires_at;
            const std::size_t bi = s->begin_batch(b);
            for (int i = 0; i < n; ++i) {
                job_spec j;
                j.to = fmt::format("+33{}{:08}", prefix, i);
                j.ref = j.to;
                j.payload_json = template_id.empty()
                                     ? fmt::format(R"({{"type":"text","body":"Hi customer {}"}})", i)
                                     : fmt::format(R"({{"name":"customer {}"}})", i);
                s->add_job(bi, std::move(j));
                if (s->should_flush()) {
                    ASSERT_TRUE(s->flush());
                }
            }
            ++prefix;
        }
        auto report = s->finish();
        ASSERT_TRUE(report) << report.error().message();
        EXPECT_EQ(report->inserted, static_cast<std::uint64_t>(2 * n));
        q.close();
    }

    // Drops one batch file per account into incoming/ the safe way (a dot-name, then rename(2)).
    void drop_batches(int n) {
        const std::pair<std::string_view, std::string_view> accounts[] = {{"shop", shop_number},
                                                                          {"agency", agency_number}};
        int prefix = 1;
        for (const auto& [account, number] : accounts) {
            json::array recipients;
            for (int i = 0; i < n; ++i) {
                recipients.push_back(
                    json::object{{"to", fmt::format("+33{}{:08}", prefix, i)},
                                 {"variables", json::object{{"name", fmt::format("c{}", i)}}}});
            }
            const json::object batch{{"batch", fmt::format("{}-spool", account)},
                                     {"account", account},
                                     {"instanceId", number},
                                     {"message", json::object{{"type", "text"}, {"body", "Hi {{name}}"}}},
                                     {"recipients", std::move(recipients)}};
            const fs::path incoming = dir_ / "spool" / "incoming";
            fs::create_directories(incoming);
            const std::string name = fmt::format("{}.json", account);
            std::ofstream(incoming / ("." + name)) << json::serialize(batch);
            fs::rename(incoming / ("." + name), incoming / name);
            ++prefix;
        }
    }

    store::batch_counts counts() {
        auto reader = store::queue_reader::open({.path = db()});
        if (!reader) {
            return {};
        }
        auto shape = reader->shape();
        store::batch_counts total;
        if (!shape) {
            return total;
        }
        for (const auto& a : *shape) {
            total.total += a.counts.total;
            total.sent += a.counts.sent;
            total.inflight += a.counts.inflight;
            total.ready += a.counts.ready;
            total.waiting += a.counts.waiting;
            total.held += a.counts.held;
            total.failed += a.counts.failed;
            total.dead += a.counts.dead;
        }
        return total;
    }

    // The daemon, its log appended to msgflashd.log across restarts.
    void start_daemon() {
        int error = 0;
        pid_ = spawn_process({MSGFLASHD_PATH, "--config", (dir_ / "msgflashd.toml").string()},
                             {.err = dir_ / "msgflashd.log", .append = true}, &error);
        ASSERT_GT(pid_, 0) << "cannot start " << MSGFLASHD_PATH << ": " << error;
    }

    // SIGTERM, then the exit status and how long the daemon took to exit (nullopt: not within `limit`).
    std::optional<std::pair<int, std::chrono::milliseconds>> terminate(std::chrono::milliseconds limit) {
        const auto t0 = std::chrono::steady_clock::now();
        ::kill(pid_, SIGTERM);
        const std::optional<int> code = wait_exit(pid_, limit, poll_interval);
        if (!code) {
            return std::nullopt;
        }
        pid_ = 0;
        const auto took =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        return std::pair{*code, took};
    }

    // msgflashctl with the daemon's configuration; its exit status, its output (stdout and stderr) in `out`.
    int run_ctl(const std::string& args, std::string* out = nullptr) {
        const fs::path output = dir_ / "ctl.out";
        const std::string cmd = fmt::format("{} --config {} {} > {} 2>&1", MSGFLASHCTL_PATH,
                                            (dir_ / "msgflashd.toml").string(), args, output.string());
        const int status = std::system(cmd.c_str());
        if (out != nullptr) {
            *out = slurp(output);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    json::object account_stats(std::string_view account) {
        return sim_.world().stats().at("accounts").at(account).as_object();
    }

    sim_instance sim_;
    fs::path dir_;
    pid_t pid_ = 0;
};

}  // namespace
}  // namespace msgflash::test
