#include "admin/admin_server.hpp"

#include <chrono>
#include <filesystem>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "admin/metrics_text.hpp"

namespace msgflash::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

namespace {

// A connection that sends nothing for this long is closed (an operator's tool asks and goes).
constexpr std::chrono::seconds idle_timeout{30};
// Requests are small: a path and perhaps a tiny body.
constexpr std::size_t max_header_bytes = 16 * 1024;
constexpr std::size_t max_body_bytes = 64 * 1024;

// Compares without leaking where the first difference is.
bool same_token(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

admin_reply text_reply(unsigned status, std::string body) {
    return {.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body)};
}

}  // namespace

admin_reply error_reply(unsigned status, std::string_view code, std::string_view message) {
    boost::json::object e{{"code", code}, {"message", message}};
    return {.status = status,
            .content_type = "application/json",
            .body = boost::json::serialize(boost::json::object{{"error", std::move(e)}})};
}

admin_server::admin_server(asio::any_io_executor ex, std::string token, admin_handlers handlers)
    : executor_(std::move(ex)), token_(std::move(token)), handlers_(std::move(handlers)) {}

admin_server::~admin_server() {
    stop();
}

std::unique_ptr<admin_server> admin_server::listen(asio::any_io_executor ex, const listen_address& at,
                                                   std::string token, admin_handlers handlers,
                                                   std::error_code& ec) {
    std::unique_ptr<admin_server> s(new admin_server(ex, std::move(token), std::move(handlers)));
    boost::system::error_code bec;
    if (at.type == listen_address::kind::unix_socket) {
        std::error_code ignored;
        std::filesystem::remove(at.path, ignored);  // a stale socket of an earlier run
        s->unix_ = std::make_unique<local::acceptor>(ex);
        const local::endpoint ep(at.path.string());
        s->unix_->open(ep.protocol(), bec);
        if (!bec) {
            s->unix_->bind(ep, bec);
        }
        if (!bec && ::chmod(at.path.c_str(), 0660) != 0) {
            bec = boost::system::error_code(errno, boost::system::system_category());
        }
        if (!bec) {
            s->unix_->listen(asio::socket_base::max_listen_connections, bec);
        }
        s->unix_path_ = at.path.string();
    } else {
        s->tcp_ = std::make_unique<tcp::acceptor>(ex);
        const asio::ip::address host = asio::ip::make_address(at.host, bec);
        const tcp::endpoint ep(host, at.port);
        if (!bec) {
            s->tcp_->open(ep.protocol(), bec);
        }
        if (!bec) {
            s->tcp_->set_option(asio::socket_base::reuse_address(true), bec);
        }
        if (!bec) {
            s->tcp_->bind(ep, bec);
        }
        if (!bec) {
            s->tcp_->listen(asio::socket_base::max_listen_connections, bec);
        }
    }
    if (bec) {
        ec = std::error_code(bec.value(), std::system_category());
        return nullptr;
    }
    return s;
}

std::string admin_server::address() const {
    if (unix_) {
        return "unix:" + unix_path_;
    }
    boost::system::error_code ec;
    const tcp::endpoint ep = tcp_->local_endpoint(ec);
    if (ep.address().is_v6()) {
        return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
    }
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void admin_server::stop() {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    boost::system::error_code ec;
    if (tcp_) {
        tcp_->close(ec);
    }
    if (unix_) {
        unix_->close(ec);
        std::error_code ignored;
        std::filesystem::remove(unix_path_, ignored);
    }
    for (auto& close : closers_) {
        close();
    }
}

asio::awaitable<void> admin_server::run() {
    for (;;) {
        if (stopped_) {
            co_return;
        }
        if (tcp_) {
            auto [ec, socket] = co_await tcp_->async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (stopped_ || ec == asio::error::operation_aborted) {
                    co_return;
                }
                continue;  // a failed accept (EMFILE…) is the client's loss, not the server's end
            }
            asio::co_spawn(executor_, session<tcp>(std::move(socket), false), asio::detached);
        } else {
            auto [ec, socket] = co_await unix_->async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (stopped_ || ec == asio::error::operation_aborted) {
                    co_return;
                }
                continue;
            }
            asio::co_spawn(executor_, session<local>(std::move(socket), true), asio::detached);
        }
    }
}

template <class Protocol>
asio::awaitable<void> admin_server::session(typename Protocol::socket socket, bool trusted) {
    auto stream = std::make_shared<beast::basic_stream<Protocol>>(std::move(socket));
    closers_.push_front([w = std::weak_ptr(stream)] {
        if (auto s = w.lock()) {
            s->close();
        }
    });
    const auto me = closers_.begin();
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(max_header_bytes);
        parser.body_limit(max_body_bytes);
        stream->expires_after(idle_timeout);
        auto [rec, n] =
            co_await http::async_read(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (rec) {
            break;
        }
        const http::request<http::string_body>& req = parser.get();
        auto op = answer(req.method_string(), req.target(), req[http::field::authorization], trusted);
        admin_reply rep = co_await std::move(op);
        http::response<http::string_body> res{static_cast<http::status>(rep.status), req.version()};
        res.set(http::field::content_type, rep.content_type);
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(req.keep_alive() && !stopped_);
        if (req.method() != http::verb::head) {
            res.body() = std::move(rep.body);
        }
        res.prepare_payload();
        stream->expires_after(idle_timeout);
        auto [wec, m] = co_await http::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
        if (wec || !res.keep_alive()) {
            break;
        }
    }
    boost::system::error_code ignored;
    stream->socket().shutdown(Protocol::socket::shutdown_both, ignored);
    stream->close();
    closers_.erase(me);
}

asio::awaitable<admin_reply> admin_server::answer(std::string_view method, std::string_view target,
                                                  std::string_view authorization, bool trusted) {
    route_result r = parse_route(method, target);
    if (!r.ok) {
        co_return error_reply(r.error.status,
                              r.error.status == 405   ? "METHOD_NOT_ALLOWED"
                              : r.error.status == 400 ? "BAD_REQUEST"
                                                      : "NOT_FOUND",
                              r.error.message);
    }
    switch (r.ok->kind) {
        case route_kind::healthz:
            co_return text_reply(200, "ok\n");
        case route_kind::readyz:
            if (handlers_.ready && handlers_.ready()) {
                co_return text_reply(200, "ready\n");
            }
            co_return text_reply(503, "starting\n");
        case route_kind::metrics: {
            admin_reply rep{.status = 200, .content_type = std::string(metrics_content_type), .body = {}};
            if (handlers_.metrics) {
                auto op = handlers_.metrics();
                rep.body = co_await std::move(op);
            }
            co_return rep;
        }
        default:
            break;
    }
    constexpr std::string_view bearer = "Bearer ";
    const bool token_ok = !token_.empty() && authorization.starts_with(bearer) &&
                          same_token(authorization.substr(bearer.size()), token_);
    if (!trusted && !token_ok) {
        co_return error_reply(401, "UNAUTHORIZED", "a control call needs the admin token (admin.token)");
    }
    if (!handlers_.control) {
        co_return error_reply(500, "INTERNAL", "no control handler");
    }
    auto op = handlers_.control(std::move(*r.ok));
    admin_reply rep = co_await std::move(op);
    co_return rep;
}

}  // namespace msgflash::admin
