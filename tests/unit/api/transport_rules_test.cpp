#include "api/transport_rules.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

#include "api/api_result.hpp"

namespace msgflash::api {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

TEST(Loopback, Hosts) {
    for (const char* host : {"localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.1.2.3",
                             "127.255.255.254", "::1", "[::1]", "::ffff:127.0.0.1"}) {
        EXPECT_TRUE(is_loopback_host(host)) << host;
    }
    for (const char* host : {"example.com", "localhost.example.com", "mylocalhost", "128.0.0.1", "10.0.0.1",
                             "0.0.0.0", "::", "::2", "::ffff:10.0.0.1", "", "127.0.0.1.nip.io"}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
}

TEST(Loopback, PlainHttpOnlyToThisMachine) {
    EXPECT_EQ(origin_problem(http_origin{false, "127.0.0.1", 8080}), std::nullopt);
    EXPECT_EQ(origin_problem(http_origin{false, "localhost", 80}), std::nullopt);
    EXPECT_EQ(origin_problem(http_origin{true, "srv.msgflash.com", 443}), std::nullopt);
    const auto problem = origin_problem(http_origin{false, "srv.msgflash.com", 80});
    ASSERT_TRUE(problem.has_value());
    EXPECT_NE(problem->find("loopback"), std::string::npos) << *problem;
    EXPECT_NE(problem->find("http://srv.msgflash.com"), std::string::npos) << *problem;
    EXPECT_TRUE(origin_problem(http_origin{false, "192.168.1.10", 8080}).has_value());
    EXPECT_TRUE(origin_problem(http_origin{true, "", 443}).has_value());
    EXPECT_TRUE(origin_problem(http_origin{true, "srv.msgflash.com", 0}).has_value());
}

failure_facts facts(exchange_phase phase, error_code ec) {
    failure_facts f;
    f.phase = phase;
    f.ec = ec;
    return f;
}

TEST(DecideFailure, BeforeTheFirstByteIsNotSent) {
    for (auto phase : {exchange_phase::queue, exchange_phase::resolve, exchange_phase::connect,
                       exchange_phase::handshake}) {
        auto f = facts(phase, asio::error::connection_refused);
        f.reused_connection = true;
        f.idempotent = true;
        const auto d = decide_failure(f);
        EXPECT_EQ(d.outcome, transport_outcome::not_sent);
        EXPECT_FALSE(d.replay);
    }
}

TEST(DecideFailure, WriteWithNothingAccepted) {
    auto f = facts(exchange_phase::write, asio::error::broken_pipe);
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::not_sent);
    EXPECT_FALSE(decide_failure(f).replay);  // a fresh connection: the server is the problem, no replay

    f.reused_connection = true;  // a stale kept-alive connection: nothing left, safe for any method
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::not_sent);
    EXPECT_TRUE(decide_failure(f).replay);

    f.cancelled = true;
    f.ec = asio::error::operation_aborted;
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::not_sent);
    EXPECT_FALSE(decide_failure(f).replay);

    f = facts(exchange_phase::write, client_errc::request_timeout);
    f.reused_connection = true;
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::not_sent);
    EXPECT_FALSE(decide_failure(f).replay);  // not a connection loss
}

TEST(DecideFailure, PartWrittenIsAmbiguous) {
    auto f = facts(exchange_phase::write, asio::error::connection_reset);
    f.bytes_written = 10;
    f.reused_connection = true;
    f.idempotent = true;
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous);
    EXPECT_FALSE(decide_failure(f).replay);
}

TEST(DecideFailure, StaleConnectionReplaysOnlyIdempotentRequests) {
    for (error_code ec : {error_code(asio::error::eof), error_code(asio::error::connection_reset),
                          error_code(boost::beast::http::error::end_of_stream),
                          error_code(asio::ssl::error::stream_truncated)}) {
        auto f = facts(exchange_phase::read, ec);
        f.bytes_written = 200;
        f.reused_connection = true;
        f.idempotent = true;
        EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous) << ec.message();
        EXPECT_TRUE(decide_failure(f).replay) << ec.message();

        f.idempotent = false;  // a send: the server may have acted before closing
        EXPECT_FALSE(decide_failure(f).replay) << ec.message();
        f.idempotent = true;

        f.reused_connection = false;  // a fresh connection closing is not the idle-close race
        EXPECT_FALSE(decide_failure(f).replay) << ec.message();
        f.reused_connection = true;

        f.answer_started = true;  // part of an answer came: the server acted
        EXPECT_FALSE(decide_failure(f).replay) << ec.message();
    }
}

TEST(DecideFailure, TimeoutsAndCancellationAfterWritingAreAmbiguous) {
    for (error_code ec : {error_code(client_errc::request_timeout), error_code(boost::beast::error::timeout),
                          error_code(asio::error::operation_aborted)}) {
        auto f = facts(exchange_phase::read, ec);
        f.bytes_written = 200;
        f.reused_connection = true;
        f.idempotent = true;
        f.cancelled = ec == asio::error::operation_aborted;
        EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous) << ec.message();
        EXPECT_FALSE(decide_failure(f).replay) << ec.message();
        f.header_complete = true;  // a slow body: still no whole answer
        f.answer_started = true;
        EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous) << ec.message();
    }
}

TEST(DecideFailure, UnreadableBodyAfterAWholeHeaderIsUnparseable) {
    for (error_code ec :
         {error_code(client_errc::body_too_large), error_code(client_errc::malformed_response)}) {
        auto f = facts(exchange_phase::read, ec);
        f.bytes_written = 200;
        f.answer_started = true;
        f.header_complete = true;
        EXPECT_EQ(decide_failure(f).outcome, transport_outcome::unparseable) << ec.message();
    }
    // Cut off mid-body: the answer never arrived whole.
    for (error_code ec :
         {error_code(boost::beast::http::error::partial_message), error_code(asio::error::eof)}) {
        auto f = facts(exchange_phase::read, ec);
        f.bytes_written = 200;
        f.answer_started = true;
        f.header_complete = true;
        EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous) << ec.message();
    }
    // A garbled status line: no status, so the server may have acted.
    auto f = facts(exchange_phase::read, boost::beast::http::error::bad_version);
    f.bytes_written = 200;
    f.answer_started = true;
    EXPECT_EQ(decide_failure(f).outcome, transport_outcome::ambiguous);
}

TEST(ClientErrc, TimeoutsCompareAsTimedOut) {
    for (auto e : {client_errc::queue_timeout, client_errc::connect_timeout, client_errc::handshake_timeout,
                   client_errc::request_timeout}) {
        EXPECT_EQ(error_code(e), boost::system::errc::timed_out);
    }
    EXPECT_NE(error_code(client_errc::not_json), boost::system::errc::timed_out);
    EXPECT_EQ(error_code(client_errc::body_too_large).message(), "answer body too large");
}

}  // namespace
}  // namespace msgflash::api
