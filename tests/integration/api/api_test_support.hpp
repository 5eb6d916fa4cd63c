// What the API client's integration tests share: an in-process msgflash-sim, an io_context on its own thread
// for the client, the sim's control API, and a logger that keeps every line so that no test ends with a key
// in its log.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include "api/api_client.hpp"
#include "config/api_keys.hpp"
#include "tests/sim/sim_config.hpp"
#include "tests/support/sim_fixture.hpp"
#include "tests/support/test_pki.hpp"

namespace msgflash::api::test {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// The built-in world's fixtures (tests/sim/sim_config.cpp). The keys are fake on purpose.
inline constexpr std::string_view shop_secret = "msgf_live_FAKE_shop_key";
inline constexpr std::string_view agency_secret = "msgf_team_FAKE_agency_key";
inline constexpr std::string_view agency_team = "5f0c2a7e-3b1d-4c8e-9a6f-2d4b8e1c7a90";
inline constexpr std::string_view stranger_secret = "msgf_live_NOT_A_KNOWN_KEY_0123";
inline constexpr std::string_view shop_instance = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
inline constexpr std::string_view agency_instance = "9f8b2c4d-6e1a-4b3c-8d7e-5a2f1c0b9e84";
inline constexpr std::string_view welcome_template = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b";
inline constexpr std::string_view order_ready_template = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d";

inline api_key make_key(std::string_view secret, std::string_view team = {}) {
    auto r = make_api_key(std::string(secret), team);
    if (!r.ok()) {
        throw std::runtime_error("test key refused: " + r.error->to_string());
    }
    return *r.value;
}
inline api_key shop_key() {
    return make_key(shop_secret);
}
inline api_key agency_key() {
    return make_key(agency_secret, agency_team);
}

inline send_request text_to(std::string to, std::string body = "Hello") {
    send_request r;
    r.instance_id = std::string(shop_instance);
    r.to = std::move(to);
    r.content.type = "text";
    r.content.body = std::move(body);
    return r;
}

// Every formatted line, kept.
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t buf;
        formatter_->format(msg, buf);
        lines_.emplace_back(buf.data(), buf.size());
    }
    void flush_() override {}

  private:
    std::vector<std::string> lines_;
};

// The built-in world with the 10 req/s limiter off: tests that are not about pacing send freely.
inline sim::sim_config free_world() {
    auto c = sim::default_sim_config();
    c.limits.enabled = false;
    return c;
}

// Options for a client of `sim` (plain unless the sim runs TLS; then `host` must match its certificate).
inline client_options options_for(const msgflash::test::sim_instance& sim, std::string host = "127.0.0.1") {
    client_options o;
    o.pool.origin = http_origin{sim.options().tls, std::move(host), sim.port()};
    o.pool.ca_file = sim.options().ca_file;
    o.pool.request_timeout = 5s;
    o.pool.connect_timeout = 2s;
    o.pool.handshake_timeout = 2s;
    o.pool.queue_timeout = 5s;
    o.pool.max_connections = 8;
    o.pool.idle_timeout = 30s;
    return o;
}

// A POST to the sim's control API on a connection of its own (the connection is closed right after, so it
// cannot pick up a reset meant for the client under test).
inline json::value control(const msgflash::test::sim_instance& sim, std::string_view path,
                           const json::value& body) {
    auto c = sim.client();
    const auto r = c.post(path, json::serialize(body));
    EXPECT_TRUE(r.ok()) << path << ": " << r.error.message();
    EXPECT_EQ(r.status, 200u) << path << ": " << r.body;
    return msgflash::test::parse_json(r.body);
}

inline json::object sim_stats(const msgflash::test::sim_instance& sim) {
    auto c = sim.client();
    const auto r = c.get("/_sim/stats");
    EXPECT_EQ(r.status, 200u);
    auto v = msgflash::test::parse_json(r.body);
    return v.is_object() ? v.as_object() : json::object{};
}

inline std::uint64_t stat(const json::object& stats, std::string_view account, std::string_view name) {
    return stats.at("accounts").at(account).at(name).to_number<std::uint64_t>();
}

inline std::uint64_t stat(const json::object& stats, std::string_view name) {
    return stats.at(name).to_number<std::uint64_t>();
}

inline std::uint64_t accepted_sends(const msgflash::test::sim_instance& sim) {
    return stat(sim_stats(sim), "shop", "acceptedSends");
}

// "connections" or "tlsHandshakes" without the one the stats request itself came on.
inline std::uint64_t others(const json::object& stats, std::string_view name) {
    return stat(stats, name) - 1;
}

// Polls `done` every poll_interval until it holds, for at most `limit`: waiting on what the test observes
// rather than on a guess of how long it takes.
inline constexpr auto poll_interval = 10ms;
template <class Condition>
bool eventually(Condition done, std::chrono::milliseconds limit = 5s) {
    const auto until = steady::now() + limit;
    while (!done()) {
        if (steady::now() >= until) {
            return false;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    return true;
}

// The client runs on an io_context of its own thread, as in the daemon; tests hand it coroutines and wait.
// TearDown shuts the client down and checks that its io_context then runs out of work by itself, and that no
// log line of the test holds a key.
class ApiTest : public ::testing::Test {
  public:
    asio::io_context& io() { return ioc_; }

  protected:
    ApiTest() : sink_(std::make_shared<capture_sink>()) {
        log_ = std::make_shared<spdlog::logger>("api-test", sink_);
        log_->set_level(spdlog::level::trace);
        log_->set_pattern("%l %v");
    }

    void SetUp() override {
        io_thread_ = std::thread([this] {
            ioc_.run();
            io_done_.set_value();
        });
    }

    void TearDown() override {
        if (client_) {
            on_io([this] { client_->shutdown(); });
            on_io([this] { client_.reset(); });
        }
        work_.reset();
        auto done = io_done_.get_future();
        if (done.wait_for(5s) != std::future_status::ready) {
            ADD_FAILURE() << "the client's io_context still had work 5 s after shutdown()";
            ioc_.stop();
        }
        io_thread_.join();
        expect_no_key_in_logs();
    }

    void expect_no_key_in_logs() {
        for (const auto& line : sink_->lines()) {
            for (auto secret :
                 {shop_secret, agency_secret, stranger_secret, std::string_view("FAKE_shop_key")}) {
                EXPECT_EQ(line.find(secret), std::string::npos) << "a key in a log line: " << line;
            }
        }
    }

    void start_sim(sim::sim_config config = free_world(), std::string ca_file = {}) {
        sim_ = std::make_unique<msgflash::test::sim_instance>(std::move(config), std::move(ca_file));
    }

    void start_client(client_options o) {
        client_ = std::make_unique<api_client>(ioc_.get_executor(), std::move(o), log_);
    }
    void start_client() { start_client(options_for(*sim_)); }

    // Runs f on the client's thread and waits for it. (Not a std::packaged_task: Asio takes one for a
    // completion token and retrieves its future itself.)
    template <class F>
    void on_io(F f) {
        std::promise<void> done;
        asio::post(ioc_, [&] {
            f();
            done.set_value();
        });
        done.get_future().get();
    }

    template <class T>
    T run(asio::awaitable<T> a) {
        auto f = asio::co_spawn(ioc_, std::move(a), asio::use_future);
        EXPECT_EQ(f.wait_for(30s), std::future_status::ready) << "a call did not complete in 30 s";
        return f.get();
    }

    template <class T>
    std::future<T> spawn(asio::awaitable<T> a) {
        return asio::co_spawn(ioc_, std::move(a), asio::use_future);
    }

    pool_stats client_stats() {
        pool_stats s;
        on_io([&] { s = client_->stats(); });
        return s;
    }

    // Scenarios the plain and the TLS tests share, on a sim already started.

    // The sim's idle_timeout is shorter than the client's: the sim closes the kept-alive connection, and the
    // client finds it closed before reusing it and sends on a new one, transparently. Returns the send.
    api_result<message_ref> send_after_the_servers_idle_close(std::string to) {
        start_client();
        EXPECT_TRUE(run(client_->list_instances(shop_key())).ok());
        EXPECT_TRUE(eventually([&] { return stat(sim_stats(*sim_), "idleClosed") >= 1; }));
        // Only the stats request's own: the server has closed the client's. (Eventually: the server may not
        // have seen the close of an earlier stats request's connection yet.)
        EXPECT_TRUE(eventually([&] { return stat(sim_stats(*sim_), "openConnections") == 1; }));
        EXPECT_EQ(client_stats().idle, 1u);  // the client does not know yet
        auto sent = run(client_->send_message(shop_key(), text_to(std::move(to))));
        EXPECT_TRUE(sent.ok()) << sent.failure().detail;
        EXPECT_FALSE(sent.exchange().reused_connection);
        EXPECT_FALSE(sent.exchange().replayed);  // caught before writing: nothing to replay
        const auto cs = client_stats();
        EXPECT_EQ(cs.stale_discarded, 1u);
        EXPECT_EQ(cs.connections_opened, 2u);
        return sent;
    }

    // The sim resets the client's next request when it arrives (control requests never draw reset_next).
    void arm_one_reset() { control(*sim_, "/_sim/faults", json::object{{"reset_next", 1}}); }

    // A kept-alive connection reset when the next request arrives: a read is sent again on a fresh
    // connection, transparently; a send is ambiguous and never replayed. Two sends go to `to` (one accepted).
    void expect_resets_on_kept_alive_connections(const std::string& to) {
        const auto replays = client_stats().replays;
        EXPECT_TRUE(run(client_->list_instances(shop_key())).ok());
        arm_one_reset();
        const auto read = run(client_->list_instances(shop_key()));
        EXPECT_TRUE(read.ok()) << read.failure().detail;
        EXPECT_TRUE(read.exchange().replayed);
        EXPECT_FALSE(read.exchange().reused_connection);  // the attempt that answered ran on a fresh one
        EXPECT_EQ(client_stats().replays, replays + 1);

        EXPECT_TRUE(run(client_->send_message(shop_key(), text_to(to))).ok());
        arm_one_reset();
        const auto send = run(client_->send_message(shop_key(), text_to(to)));
        EXPECT_FALSE(send.ok());
        EXPECT_TRUE(send.exchange().reused_connection);
        EXPECT_FALSE(send.exchange().replayed);
        EXPECT_EQ(send.outcome(), transport_outcome::ambiguous);
    }

    std::shared_ptr<capture_sink> sink_;
    std::shared_ptr<spdlog::logger> log_;
    asio::io_context ioc_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{ioc_.get_executor()};
    std::promise<void> io_done_;
    std::thread io_thread_;
    std::unique_ptr<msgflash::test::sim_instance> sim_;
    std::unique_ptr<api_client> client_;
};

// The same over TLS: a throw-away CA and a certificate for localhost and 127.0.0.1, made per test.
class ApiTlsTest : public ApiTest {
  protected:
    void SetUp() override {
        ApiTest::SetUp();
        pki_ = msgflash::test::make_test_pki(dir_.path());
        start_sim(free_world());
    }

    // `config` served over TLS with the test's certificate.
    void start_sim(sim::sim_config config) {
        config.server.tls_cert = pki_.server_cert.string();
        config.server.tls_key = pki_.server_key.string();
        ApiTest::start_sim(std::move(config), pki_.ca_cert.string());
    }

    msgflash::test::temp_dir dir_{"msgflash-api-tls"};
    msgflash::test::test_pki pki_;
};

}  // namespace msgflash::api::test
