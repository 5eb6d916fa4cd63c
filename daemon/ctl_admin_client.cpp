#include "daemon/ctl_admin_client.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "core/version.hpp"

namespace msgflash::ctl {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// admin.token: 32 random bytes in hex (docs/admin-api.md); anything much longer is not ours.
constexpr std::size_t max_token_bytes = 256;
constexpr std::size_t max_answer_bytes = 1 << 20;

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    return std::string(s);
}

std::optional<std::string> read_small_file(const std::filesystem::path& p, std::size_t limit,
                                           std::string& why) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        why = fmt::format("cannot read {}: {}", p.string(), std::strerror(errno));
        return std::nullopt;
    }
    std::string text(limit + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > limit) {
        why = fmt::format("{} is too large", p.string());
        return std::nullopt;
    }
    return text;
}

// Runs `start` (which starts one asynchronous operation calling the handler it is given) until it completes
// or the deadline passes; on timeout `cancel` is called and the operation's abort is awaited.
template <typename Start, typename Cancel>
error_code run_with_deadline(asio::io_context& io, std::chrono::steady_clock::time_point deadline,
                             Start start, Cancel cancel) {
    error_code result;
    bool done = false;
    start([&](error_code ec, auto&&...) {
        result = ec;
        done = true;
    });
    io.restart();
    io.run_until(deadline);
    if (!done) {
        cancel();
        io.restart();
        io.run();
        return asio::error::timed_out;
    }
    return result;
}

template <typename Socket>
admin_call exchange(asio::io_context& io, Socket& socket, std::chrono::steady_clock::time_point deadline,
                    const admin_endpoint& endpoint, std::string_view target) {
    http::request<http::empty_body> req{http::verb::post, std::string(target), 11};
    req.set(http::field::host, endpoint.address.type == listen_address::kind::tcp
                                   ? endpoint.address.to_string()
                                   : std::string("localhost"));
    req.set(http::field::user_agent, fmt::format("msgflashctl/{}", msgflash::version));
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    if (!endpoint.token.empty()) {
        req.set(http::field::authorization, "Bearer " + endpoint.token);
    }
    req.content_length(0);
    auto cancel = [&] {
        error_code ignored;
        socket.close(ignored);
    };
    if (error_code ec = run_with_deadline(
            io, deadline, [&](auto handler) { http::async_write(socket, req, std::move(handler)); },
            cancel)) {
        return {std::nullopt, fmt::format("sending the request failed: {}", ec.message())};
    }
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);
    if (error_code ec = run_with_deadline(
            io, deadline, [&](auto handler) { http::async_read(socket, buffer, parser, std::move(handler)); },
            cancel)) {
        return {std::nullopt, fmt::format("reading the answer failed: {}", ec.message())};
    }
    auto res = parser.release();
    return {admin_answer{res.result_int(), std::move(res.body())}, {}};
}

}  // namespace

std::optional<listen_address> parse_admin_address(std::string_view text) {
    const std::string t = trim(text);
    std::string_view s = t;
    listen_address a;
    if (s.starts_with("unix:")) {
        s.remove_prefix(5);
        if (s.empty() || s.front() != '/') {
            return std::nullopt;
        }
        a.type = listen_address::kind::unix_socket;
        a.path = std::string(s);
        return a;
    }
    std::string_view host;
    std::string_view port;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
            return std::nullopt;
        }
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos || s.find(':') != colon) {
            return std::nullopt;
        }
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
        return std::nullopt;
    }
    a.type = listen_address::kind::tcp;
    a.host = std::string(host);
    a.port = static_cast<std::uint16_t>(value);
    return a;
}

std::string percent_encode(std::string_view segment) {
    std::string out;
    for (unsigned char ch : segment) {
        if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            out += fmt::format("%{:02X}", ch);
        }
    }
    return out;
}

admin_endpoint find_admin_endpoint(const config& cfg) {
    admin_endpoint e;
    const std::filesystem::path state_dir = cfg.queue.path.parent_path();
    std::string why;
    e.address = cfg.admin.listen;
    e.where = "admin.listen";
    if (auto text = read_small_file(state_dir / "admin.address", max_token_bytes, why)) {
        if (auto a = parse_admin_address(*text)) {
            e.address = *a;
            e.where = (state_dir / "admin.address").string();
        }
    }
    if (auto token = read_small_file(state_dir / "admin.token", max_token_bytes, e.token_note)) {
        e.token = trim(*token);
    }
    return e;
}

admin_call admin_post(const admin_endpoint& endpoint, std::string_view target,
                      std::chrono::milliseconds timeout) {
    asio::io_context io;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string where = endpoint.address.to_string();
    try {
        if (endpoint.address.type == listen_address::kind::unix_socket) {
            asio::local::stream_protocol::socket socket(io);
            const asio::local::stream_protocol::endpoint ep(endpoint.address.path.string());
            auto cancel = [&] {
                error_code ignored;
                socket.close(ignored);
            };
            if (error_code ec = run_with_deadline(
                    io, deadline, [&](auto handler) { socket.async_connect(ep, std::move(handler)); },
                    cancel)) {
                return {std::nullopt, fmt::format("cannot connect to {}: {}", where, ec.message())};
            }
            return exchange(io, socket, deadline, endpoint, target);
        }
        error_code ec;
        const auto ip = asio::ip::make_address(endpoint.address.host, ec);
        if (ec) {
            return {std::nullopt,
                    fmt::format("{}: not an IP address (the admin endpoint listens on one)", where)};
        }
        asio::ip::tcp::socket socket(io);
        const asio::ip::tcp::endpoint ep(ip, endpoint.address.port);
        auto cancel = [&] {
            error_code ignored;
            socket.close(ignored);
        };
        if (error_code cec = run_with_deadline(
                io, deadline, [&](auto handler) { socket.async_connect(ep, std::move(handler)); }, cancel)) {
            return {std::nullopt, fmt::format("cannot connect to {}: {}", where, cec.message())};
        }
        return exchange(io, socket, deadline, endpoint, target);
    } catch (const std::exception& e) {
        return {std::nullopt, fmt::format("talking to {} failed: {}", where, e.what())};
    }
}

}  // namespace msgflash::ctl
