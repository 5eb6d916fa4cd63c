// The connection pool against msgflash-sim and bare sockets: the cap, fair queueing, idle expiry,
// reconnecting after the server closed a kept-alive connection, timeouts before and after writing, and
// cancellation that ends everything at once and leaves the io_context without work.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/integration/api/api_test_support.hpp"
#include "tests/sim/sim_server.hpp"
#include "tests/sim/sim_world.hpp"

namespace msgflash::api::test {
namespace {

using tcp = asio::ip::tcp;
using boost::system::error_code;

template <class T>
asio::awaitable<void> store(asio::awaitable<T> call, std::optional<T>& out) {
    out.emplace(co_await std::move(call));
}

template <class T>
asio::awaitable<void> store_then_shutdown(api_client& client, asio::awaitable<T> call,
                                          std::optional<T>& out) {
    out.emplace(co_await std::move(call));
    client.shutdown();
}

void set_latency(const msgflash::test::sim_instance& sim, std::string_view latency) {
    control(sim, "/_sim/faults", json::object{{"latency_min", latency}, {"latency_max", latency}});
}

TEST_F(ApiTest, TwoHundredRequestsOverAtMostFourConnections) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.max_connections = 4;
    start_client(o);
    control(*sim_, "/_sim/reset-stats", json::object{});
    std::vector<std::future<api_result<std::vector<instance>>>> calls;
    for (int i = 0; i < 200; ++i) {
        calls.push_back(spawn(client_->list_instances(shop_key())));
    }
    for (auto& f : calls) {
        const auto r = f.get();
        EXPECT_TRUE(r.ok()) << r.failure().detail;
    }
    const auto s = sim_stats(*sim_);
    EXPECT_LE(others(s, "connections"), 4u);
    EXPECT_GE(others(s, "connections"), 1u);
    EXPECT_EQ(stat(s, "shop", "requests"), 200u);
    const auto cs = client_stats();
    EXPECT_EQ(cs.connections_opened, others(s, "connections"));
    EXPECT_LE(cs.open, 4u);
    EXPECT_EQ(cs.in_flight, 0u);
    EXPECT_EQ(cs.waiting, 0u);
}

TEST_F(ApiTest, QueuedRequestsAreServedInOrder) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.max_connections = 1;
    start_client(o);
    set_latency(*sim_, "50ms");
    std::vector<std::future<api_result<message_ref>>> calls;
    for (int i = 0; i < 6; ++i) {
        calls.push_back(spawn(client_->send_message(shop_key(), text_to("+3361234540" + std::to_string(i)))));
    }
    for (auto& f : calls) {
        EXPECT_TRUE(f.get().ok());
    }
    auto c = sim_->client();
    const auto messages = msgflash::test::parse_json(c.get("/_sim/messages?account=shop").body);
    const auto& list = messages.at("messages").as_array();
    ASSERT_EQ(list.size(), 6u);
    for (std::size_t i = 0; i < list.size(); ++i) {
        EXPECT_EQ(list[i].at("to").as_string(), "+3361234540" + std::to_string(i));
    }
}

// on_write marks when a request is really written: a request queued for the only connection is written once
// the one before it is answered (50 ms later), not when it was made — that is the departure a pacer counts.
TEST_F(ApiTest, OnWriteIsCalledWhenTheRequestIsWrittenNotWhenItIsQueued) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.max_connections = 1;
    start_client(o);
    set_latency(*sim_, "50ms");
    std::vector<std::chrono::steady_clock::time_point> written;  // appended on the client's thread only
    const auto made = std::chrono::steady_clock::now();
    std::vector<std::future<api_result<message_ref>>> calls;
    for (int i = 0; i < 3; ++i) {
        calls.push_back(
            spawn(client_->send_message(shop_key(), text_to("+3361234550" + std::to_string(i)), [&written] {
                written.push_back(std::chrono::steady_clock::now());
            })));
    }
    for (auto& f : calls) {
        EXPECT_TRUE(f.get().ok());
    }
    ASSERT_EQ(written.size(), 3u);  // once each
    EXPECT_GE(written[1] - made, std::chrono::milliseconds{50});
    EXPECT_GE(written[2] - written[1], std::chrono::milliseconds{50});
}

TEST_F(ApiTest, QueueTimeoutWhenEveryConnectionStaysBusy) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.max_connections = 1;
    o.pool.queue_timeout = 300ms;
    start_client(o);
    set_latency(*sim_, "1s");
    auto first = spawn(client_->list_instances(shop_key()));
    auto second = spawn(client_->list_instances(shop_key()));
    const auto late = second.get();
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.outcome(), transport_outcome::not_sent);
    EXPECT_EQ(late.failure().ec, client_errc::queue_timeout);
    EXPECT_EQ(late.verdict().act, action::retry);
    EXPECT_FALSE(late.verdict().counts_attempt);
    EXPECT_TRUE(first.get().ok());
}

TEST_F(ApiTest, IdleConnectionsCloseAfterTheIdleTimeout) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.idle_timeout = 200ms;
    start_client(o);
    const auto started = steady::now();
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    EXPECT_EQ(client_stats().idle, 1u);
    ASSERT_TRUE(eventually([&] { return client_stats().open == 0; }));
    EXPECT_GE(steady::now() - started, 200ms);
    EXPECT_EQ(client_stats().idle, 0u);
    // The sim sees the close too.
    ASSERT_TRUE(eventually([&] { return stat(sim_stats(*sim_), "openConnections") == 1; }));  // the stats one
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    EXPECT_EQ(client_stats().connections_opened, 2u);
}

// The server's idle timeout (200 ms) is shorter than the client's (30 s): the server closes the kept-alive
// connection, the client finds it closed before reusing it and opens another, transparently.
TEST_F(ApiTest, ReconnectsAfterTheServersIdleTimeout) {
    auto config = free_world();
    config.server.idle_timeout = 200ms;
    start_sim(config);
    ASSERT_TRUE(send_after_the_servers_idle_close("+33612345502").ok());
    EXPECT_EQ(accepted_sends(*sim_), 1u);
}

// The same over TLS; the new connection resumes the first one's TLS session.
TEST_F(ApiTlsTest, ReconnectsAfterTheServersIdleTimeout) {
    auto config = free_world();
    config.server.idle_timeout = 200ms;
    start_sim(config);
    ASSERT_TRUE(send_after_the_servers_idle_close("+33612345503").ok());
    const auto cs = client_stats();
    EXPECT_EQ(cs.tls_handshakes, 2u);
    EXPECT_EQ(cs.tls_resumed, 1u);
}

TEST_F(ApiTest, ReconnectsAfterTheServerClosedAnIdleConnection) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.liveness_check_after = 0ms;  // check even a connection idle for a moment only
    start_client(o);
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    ASSERT_EQ(client_stats().idle, 1u);
    // The server goes away and comes back on the same port: every connection it had is closed, ours included,
    // while it sits idle in the pool.
    const auto port = sim_->port();
    sim_->stop();
    auto world = std::make_shared<sim::world>(free_world());
    sim::server_config config;
    config.host = "127.0.0.1";
    config.port = port;
    sim::server restarted(world, config);
    restarted.start();

    const auto sent = run(client_->send_message(shop_key(), text_to("+33612345501")));
    ASSERT_TRUE(sent.ok()) << sent.failure().detail;
    EXPECT_FALSE(sent.exchange().replayed);  // caught before writing: nothing to replay
    const auto cs = client_stats();
    EXPECT_EQ(cs.stale_discarded, 1u);
    EXPECT_EQ(cs.connections_opened, 2u);
    const auto s = world->stats();
    EXPECT_EQ(s.at("connections").to_number<int>(), 1);
    EXPECT_EQ(s.at("accounts").at("shop").at("acceptedSends").to_number<int>(), 1);
    on_io([this] { client_->shutdown(); });
    restarted.stop();
}

// ---- cancellation and timeouts, each on an io_context run by the test itself: run() returning is the proof
// ---- that the client left no work behind.

TEST_F(ApiTest, CancelAllEndsInFlightRequestsAtOnce) {
    start_sim();
    set_latency(*sim_, "5s");
    asio::io_context ioc;
    auto client = std::make_unique<api_client>(ioc.get_executor(), options_for(*sim_), log_);
    std::optional<api_result<message_ref>> sent;
    std::optional<api_result<std::vector<instance>>> listed;
    asio::co_spawn(ioc, store(client->send_message(shop_key(), text_to("+33612345601")), sent),
                   asio::detached);
    asio::co_spawn(ioc, store(client->list_instances(shop_key()), listed), asio::detached);
    asio::steady_timer later(ioc, 300ms);
    later.async_wait([&](error_code) { client->cancel_all(); });
    const auto started = steady::now();
    ioc.run();
    EXPECT_LT(steady::now() - started, 1500ms);

    ASSERT_TRUE(sent.has_value());
    ASSERT_FALSE(sent->ok());
    EXPECT_EQ(sent->failure().ec, asio::error::operation_aborted);
    EXPECT_EQ(sent->outcome(), transport_outcome::ambiguous);
    EXPECT_TRUE(sent->verdict().ambiguous);
    ASSERT_TRUE(listed.has_value());
    EXPECT_EQ(listed->failure().ec, asio::error::operation_aborted);
    EXPECT_EQ(listed->outcome(), transport_outcome::ambiguous);
    EXPECT_EQ(accepted_sends(*sim_), 1u);  // it had been received: ambiguous is the truth

    // cancel_all() leaves the client usable. (Its kept-alive connection would keep run() busy until the idle
    // timeout: shut down once the answer is in.)
    set_latency(*sim_, "0s");
    listed.reset();
    asio::co_spawn(ioc, store_then_shutdown(*client, client->list_instances(shop_key()), listed),
                   asio::detached);
    ioc.restart();
    ioc.run();
    ASSERT_TRUE(listed.has_value());
    EXPECT_TRUE(listed->ok());
    client.reset();
}

TEST_F(ApiTest, CancelAllEndsQueuedRequestsUnsent) {
    start_sim();
    set_latency(*sim_, "5s");
    asio::io_context ioc;
    auto o = options_for(*sim_);
    o.pool.max_connections = 1;
    auto client = std::make_unique<api_client>(ioc.get_executor(), o, log_);
    std::vector<std::optional<api_result<std::vector<instance>>>> results(3);
    for (auto& r : results) {
        asio::co_spawn(ioc, store(client->list_instances(shop_key()), r), asio::detached);
    }
    asio::steady_timer later(ioc, 300ms);
    later.async_wait([&](error_code) {
        EXPECT_EQ(client->stats().waiting, 2u);
        client->shutdown();
    });
    const auto started = steady::now();
    ioc.run();
    EXPECT_LT(steady::now() - started, 1500ms);
    ASSERT_TRUE(results[0].has_value());
    EXPECT_EQ(results[0]->outcome(), transport_outcome::ambiguous);
    for (std::size_t i = 1; i < results.size(); ++i) {
        ASSERT_TRUE(results[i].has_value());
        EXPECT_EQ(results[i]->outcome(), transport_outcome::not_sent);
        EXPECT_EQ(results[i]->failure().ec, asio::error::operation_aborted);
    }

    // After shutdown() nothing new is sent.
    std::optional<api_result<std::vector<instance>>> refused;
    asio::co_spawn(ioc, store(client->list_instances(shop_key()), refused), asio::detached);
    ioc.restart();
    ioc.run();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->outcome(), transport_outcome::not_sent);
    EXPECT_EQ(refused->failure().ec, asio::error::operation_aborted);
    EXPECT_EQ(stat(sim_stats(*sim_), "shop", "requests"), 1u);
    client.reset();
}

asio::awaitable<std::size_t> race(api_client& client, std::chrono::milliseconds limit) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto winner = co_await (client.list_instances(shop_key()) || timer.async_wait(asio::use_awaitable));
    co_return winner.index();
}

TEST_F(ApiTest, CallersOwnCancellationIsPrompt) {
    start_sim();
    set_latency(*sim_, "5s");
    asio::io_context ioc;
    auto client = std::make_unique<api_client>(ioc.get_executor(), options_for(*sim_), log_);
    std::optional<std::size_t> winner;
    asio::co_spawn(ioc, store(race(*client, 300ms), winner), asio::detached);
    const auto started = steady::now();
    ioc.run();
    EXPECT_LT(steady::now() - started, 1500ms);
    ASSERT_TRUE(winner.has_value());
    EXPECT_EQ(*winner, 1u);  // the timer
    const auto s = client->stats();
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_EQ(s.open, 0u);  // the interrupted connection was not kept
    client.reset();
}

// Accepts connections and never answers (nor reads): a server that hangs.
asio::awaitable<void> silent_server(tcp::acceptor& acceptor, std::vector<tcp::socket>& held) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            co_return;
        }
        held.push_back(std::move(socket));
    }
}

struct timeouts_seen {
    std::optional<api_result<std::vector<instance>>> request;
    std::optional<api_result<std::vector<instance>>> handshake;
    std::optional<api_result<std::vector<instance>>> refused;
};

asio::awaitable<void> against_silence(api_client& plain, api_client& tls, api_client& nobody,
                                      timeouts_seen& seen, tcp::acceptor& acceptor,
                                      std::vector<tcp::socket>& held) {
    seen.request.emplace(co_await plain.list_instances(shop_key()));
    seen.handshake.emplace(co_await tls.list_instances(shop_key()));
    seen.refused.emplace(co_await nobody.list_instances(shop_key()));
    acceptor.close();
    for (auto& s : held) {
        error_code ignored;
        s.close(ignored);
    }
    plain.shutdown();
    tls.shutdown();
    nobody.shutdown();
}

TEST_F(ApiTest, TimeoutsBeforeAndAfterWriting) {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    std::uint16_t closed_port = 0;
    {
        tcp::acceptor probe(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed_port = probe.local_endpoint().port();
    }
    client_options o;
    o.pool.origin = http_origin{false, "127.0.0.1", port};
    o.pool.request_timeout = 300ms;
    o.pool.connect_timeout = 300ms;
    o.pool.handshake_timeout = 300ms;
    api_client plain(ioc.get_executor(), o, log_);
    o.pool.origin.tls = true;
    api_client tls(ioc.get_executor(), o, log_);
    o.pool.origin = http_origin{false, "127.0.0.1", closed_port};
    api_client nobody(ioc.get_executor(), o, log_);

    std::vector<tcp::socket> held;
    timeouts_seen seen;
    asio::co_spawn(ioc, silent_server(acceptor, held), asio::detached);
    asio::co_spawn(ioc, against_silence(plain, tls, nobody, seen, acceptor, held), asio::detached);
    const auto started = steady::now();
    ioc.run();
    EXPECT_LT(steady::now() - started, 3s);

    ASSERT_TRUE(seen.request.has_value());
    EXPECT_EQ(seen.request->outcome(), transport_outcome::ambiguous);  // written, never answered
    EXPECT_EQ(seen.request->failure().ec, client_errc::request_timeout);
    EXPECT_GE(seen.request->exchange().latency, 250ms);

    ASSERT_TRUE(seen.handshake.has_value());
    EXPECT_EQ(seen.handshake->outcome(), transport_outcome::not_sent);  // nothing of the request left
    EXPECT_EQ(seen.handshake->failure().ec, client_errc::handshake_timeout);

    ASSERT_TRUE(seen.refused.has_value());
    EXPECT_EQ(seen.refused->outcome(), transport_outcome::not_sent);
    EXPECT_EQ(seen.refused->failure().ec, asio::error::connection_refused);
    EXPECT_FALSE(seen.refused->verdict().counts_attempt);
}

}  // namespace
}  // namespace msgflash::api::test
