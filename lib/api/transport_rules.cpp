#include "api/transport_rules.hpp"

#include <algorithm>
#include <cctype>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "api/api_result.hpp"

namespace msgflash::api {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_timeout(const boost::system::error_code& ec) {
    return ec == boost::beast::error::timeout || ec == client_errc::request_timeout;
}

}  // namespace

bool is_loopback_address(const boost::asio::ip::address& a) {
    if (a.is_loopback()) {
        return true;  // 127.0.0.0/8, ::1
    }
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).is_loopback();
    }
    return false;
}

bool is_loopback_host(std::string_view host) {
    if (iequals(host, "localhost") || iequals(host, "localhost.")) {
        return true;
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return !ec && is_loopback_address(address);
}

std::optional<std::string> origin_problem(const http_origin& origin) {
    if (origin.host.empty()) {
        return std::string("api.base_url has no host");
    }
    if (origin.port == 0) {
        return std::string("api.base_url: port 0 is not a port one can connect to");
    }
    if (!origin.tls && !is_loopback_host(origin.host)) {
        return "api.base_url " + origin.to_string() +
               ": plain http:// is only allowed to loopback hosts (127.0.0.0/8, ::1, localhost); the API key "
               "would cross the network in clear text — use https://";
    }
    return std::nullopt;
}

bool is_connection_loss(const boost::system::error_code& ec) {
    namespace error = boost::asio::error;
    return ec == error::eof || ec == error::connection_reset || ec == error::broken_pipe ||
           ec == error::connection_aborted || ec == boost::beast::http::error::end_of_stream ||
           ec == boost::asio::ssl::error::stream_truncated;
}

failure_decision decide_failure(const failure_facts& f) {
    switch (f.phase) {
        case exchange_phase::queue:
        case exchange_phase::resolve:
        case exchange_phase::connect:
        case exchange_phase::handshake:
            return {transport_outcome::not_sent, false};
        case exchange_phase::write:
            if (f.bytes_written == 0) {
                return {transport_outcome::not_sent,
                        f.reused_connection && !f.cancelled && is_connection_loss(f.ec)};
            }
            return {transport_outcome::ambiguous, false};
        case exchange_phase::read:
            break;
    }
    if (f.header_complete && !f.cancelled && !is_timeout(f.ec) && !is_connection_loss(f.ec) &&
        f.ec != boost::beast::http::error::partial_message) {
        // The answer is there; its body is what we cannot read.
        return {transport_outcome::unparseable, false};
    }
    const bool stale = f.reused_connection && !f.answer_started && !f.cancelled && is_connection_loss(f.ec);
    return {transport_outcome::ambiguous, stale && f.idempotent};
}

}  // namespace msgflash::api
