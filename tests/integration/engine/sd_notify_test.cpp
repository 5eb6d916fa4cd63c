// The real msgflashd binary against msgflash-sim (in process) over loopback, with $NOTIFY_SOCKET pointed at a
// unix datagram socket this test made: it must say READY=1 with a STATUS= once started, STATUS= lines that
// follow what it sent, WATCHDOG=1 only when $WATCHDOG_USEC is set, and STOPPING=1 at SIGTERM (then exit 0).
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <poll.h>
#include <random>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/sim_fixture.hpp"

extern char** environ;

namespace msgflash::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view shop_number = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

constexpr std::string_view world_toml = R"(
[limits]
enabled = true
window = "1s"

[[accounts]]
name = "shop"
key = "msgf_live_FAKE_shop_key"

[[instances]]
id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
account = "shop"
name = "shop-main"
wa_number = "+33612345678"
)";

class SdNotifyTest : public ::testing::Test {
  protected:
    SdNotifyTest() : sim_(sim::parse_sim_config(world_toml, "world.toml")) {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / fmt::format("msgflashd-notify-{:x}", rd());
        fs::create_directories(dir_ / "spool");
        const fs::path key = dir_ / "shop.key";
        std::ofstream(key) << "msgf_live_FAKE_shop_key\n";
        fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
        std::ofstream(dir_ / "msgflashd.toml") << fmt::format(R"(shutdown_grace = "2s"
[api]
base_url = "http://127.0.0.1:{}"
[spool]
dir = "{}"
[queue]
path = "{}"
[admin]
listen = "127.0.0.1:0"
[pacing]
jitter_bound = "150ms"
[[accounts]]
name = "shop"
key_file = "{}"
)",
                                                              sim_.port(), (dir_ / "spool").string(),
                                                              (dir_ / "queue.db").string(), key.string());
        socket_path_ = (dir_ / "notify").string();
        sock_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (socket_path_.size() >= sizeof(addr.sun_path)) {
            ADD_FAILURE() << "socket path too long: " << socket_path_;
            return;
        }
        std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
        if (sock_ < 0 || ::bind(sock_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
            ADD_FAILURE() << "cannot make the notify socket: " << std::strerror(errno);
        }
    }

    ~SdNotifyTest() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (sock_ >= 0) {
            ::close(sock_);
        }
        if (HasFailure()) {
            std::cerr << "---- msgflashd.log ----\n"
                      << slurp(dir_ / "msgflashd.log") << "-----------------------\n";
            for (const std::string& m : messages_) {
                std::cerr << "notify: " << m << "\n";
            }
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // The daemon, with the test's environment less any systemd variables, plus `extra` ("NAME=value").
    void start_daemon(const std::vector<std::string>& extra) {
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string_view v = *e;
            if (!v.starts_with("NOTIFY_SOCKET=") && !v.starts_with("WATCHDOG_")) {
                env.emplace_back(v);
            }
        }
        env.push_back("NOTIFY_SOCKET=" + socket_path_);
        env.insert(env.end(), extra.begin(), extra.end());
        int error = 0;
        pid_ = spawn_process({MSGFLASHD_PATH, "--config", (dir_ / "msgflashd.toml").string()},
                             {.err = dir_ / "msgflashd.log", .append = true, .env = std::move(env)}, &error);
        ASSERT_GT(pid_, 0) << "cannot start " << MSGFLASHD_PATH << ": " << error;
    }

    // The next datagram on the notify socket, or nullopt when none came within `limit` (poll(2) waits for
    // it: no sleep). Every message is kept in messages_ for the failure log.
    std::optional<std::string> next_message(std::chrono::milliseconds limit) {
        pollfd p{.fd = sock_, .events = POLLIN, .revents = 0};
        const int r = ::poll(&p, 1, static_cast<int>(limit.count()));
        if (r <= 0) {
            return std::nullopt;
        }
        std::string buf(4096, '\0');
        const ssize_t n = ::recv(sock_, buf.data(), buf.size(), 0);
        if (n < 0) {
            return std::nullopt;
        }
        buf.resize(static_cast<std::size_t>(n));
        messages_.push_back(buf);
        return buf;
    }

    // Reads messages until one satisfies `match` or `limit` has passed; that message.
    std::optional<std::string> wait_message(const std::function<bool(const std::string&)>& match,
                                            std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (auto now = std::chrono::steady_clock::now(); now < deadline;
             now = std::chrono::steady_clock::now()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
            auto m = next_message(std::max(left, 1ms));
            if (m && match(*m)) {
                return m;
            }
        }
        return std::nullopt;
    }

    // The daemon's exit status (nullopt: not within `limit`).
    std::optional<int> wait_exit(std::chrono::milliseconds limit) {
        std::optional<int> code = test::wait_exit(pid_, limit);
        if (code) {
            pid_ = 0;
        }
        return code;
    }

    void drop_batch(int n) {
        json::array recipients;
        for (int i = 0; i < n; ++i) {
            recipients.push_back(json::object{{"to", fmt::format("+3361{:07}", i)}});
        }
        const json::object batch{{"batch", "shop-notify"},
                                 {"account", "shop"},
                                 {"instanceId", shop_number},
                                 {"message", json::object{{"type", "text"}, {"body", "Hello"}}},
                                 {"recipients", std::move(recipients)}};
        const fs::path incoming = dir_ / "spool" / "incoming";
        fs::create_directories(incoming);
        std::ofstream(incoming / ".shop.json") << json::serialize(batch);
        fs::rename(incoming / ".shop.json", incoming / "shop.json");
    }

    std::size_t count(std::string_view line) const {
        std::size_t n = 0;
        for (const std::string& m : messages_) {
            n += m.find(line) != std::string::npos ? 1 : 0;
        }
        return n;
    }

    sim_instance sim_;
    fs::path dir_;
    std::string socket_path_;
    int sock_ = -1;
    pid_t pid_ = 0;
    std::vector<std::string> messages_;
};

bool has_line(const std::string& message, std::string_view line) {
    std::istringstream in(message);
    for (std::string l; std::getline(in, l);) {
        if (l == line) {
            return true;
        }
    }
    return false;
}

TEST_F(SdNotifyTest, ReadyThenStatusFollowingTheSendsThenStoppingAtSigterm) {
    start_daemon({});
    const auto ready = wait_message([](const std::string& m) { return has_line(m, "READY=1"); }, 30s);
    ASSERT_TRUE(ready) << "no READY=1";
    EXPECT_NE(ready->find("STATUS=sent 0, "), std::string::npos) << *ready;
    EXPECT_NE(ready->find(" over 1 key"), std::string::npos) << *ready;

    constexpr int jobs = 5;
    drop_batch(jobs);
    // STATUS= is refreshed every 5 s; the five sends take about half a second.
    const auto status = wait_message(
        [&](const std::string& m) {
            return m.find(fmt::format("STATUS=sent {}, ", jobs)) != std::string::npos;
        },
        40s);
    ASSERT_TRUE(status) << "no STATUS= with the sends";
    EXPECT_NE(status->find("429s 0"), std::string::npos) << *status;

    ::kill(pid_, SIGTERM);
    const auto stopping = wait_message([](const std::string& m) { return has_line(m, "STOPPING=1"); }, 15s);
    ASSERT_TRUE(stopping) << "no STOPPING=1 after SIGTERM";
    const auto code = wait_exit(15s);
    ASSERT_TRUE(code) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(*code, 0);
    EXPECT_EQ(count("WATCHDOG=1"), 0u) << "WATCHDOG=1 without WATCHDOG_USEC";
    EXPECT_EQ(count("READY=1"), 1u);
}

TEST_F(SdNotifyTest, PingsTheWatchdogAtHalfWatchdogUsec) {
    // WatchdogSec=1s: a ping every 500 ms. Five of them within 10 s, whatever the machine's load.
    start_daemon({"WATCHDOG_USEC=1000000"});
    ASSERT_TRUE(wait_message([](const std::string& m) { return has_line(m, "READY=1"); }, 30s))
        << "no READY=1";
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t before = count("WATCHDOG=1");
    ASSERT_TRUE(wait_message([&](const std::string&) { return count("WATCHDOG=1") >= before + 5; }, 10s))
        << "fewer than 5 WATCHDOG=1 in 10 s: " << count("WATCHDOG=1") - before;
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms) << "pings came faster than every 500 ms";

    ::kill(pid_, SIGTERM);
    const auto code = wait_exit(15s);
    ASSERT_TRUE(code) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(*code, 0);
    // wait_exit does not read: what the daemon said while stopping is still queued.
    EXPECT_TRUE(wait_message([](const std::string& m) { return has_line(m, "STOPPING=1"); }, 1s))
        << "no STOPPING=1 after SIGTERM";
}

TEST_F(SdNotifyTest, AWatchdogMeantForAnotherProcessIsIgnored) {
    // WATCHDOG_PID names the process the watchdog is for (sd_watchdog_enabled(3)): not this one, no pings.
    start_daemon({"WATCHDOG_USEC=200000", fmt::format("WATCHDOG_PID={}", ::getpid())});
    ASSERT_TRUE(wait_message([](const std::string& m) { return has_line(m, "READY=1"); }, 30s))
        << "no READY=1";
    ::kill(pid_, SIGTERM);
    const auto code = wait_exit(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    ASSERT_TRUE(wait_message([](const std::string& m) { return has_line(m, "STOPPING=1"); }, 1s));
    EXPECT_EQ(count("WATCHDOG=1"), 0u);
}

}  // namespace
}  // namespace msgflash::test
