// Blocking over Asio: each step starts one async operation with a deadline (beast::tcp_stream's timeout) and
// runs the client's private io_context until it completes.
#include "tests/support/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

namespace msgflash::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock = std::chrono::steady_clock;

bool is_ip_address(const std::string& s) {
    error_code ec;
    (void)asio::ip::make_address(s, ec);
    return !ec;
}

}  // namespace

bool header_name_less::operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
    });
}

std::string http_result::header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

bool is_no_answer(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == ssl::error::stream_truncated;
}

struct http_client::impl {
    explicit impl(client_options o) : opts(std::move(o)) {
        if (opts.tls) {
            ssl_ctx.emplace(ssl::context::tls_client);
            ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                 ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
            ssl_ctx->set_verify_mode(ssl::verify_peer);
            if (!opts.ca_file.empty()) {
                ssl_ctx->load_verify_file(opts.ca_file);  // throws: a missing CA file is a broken test
            }
        }
    }

    bool open() const { return plain.has_value() || secure.has_value(); }

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    void close() {
        if (open()) {
            error_code ignored;
            lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
            lowest().socket().close(ignored);
        }
        secure.reset();
        plain.reset();
        buffer.clear();
    }

    // Starts one operation through `initiate(handler)` and runs until it completes.
    template <class Initiate>
    error_code run(Initiate&& initiate) {
        error_code result = asio::error::would_block;
        std::forward<Initiate>(initiate)([&result](error_code ec, auto&&...) { result = ec; });
        ioc.restart();
        ioc.run();
        return result;
    }

    error_code connect(clock::time_point deadline) {
        error_code ec;
        tcp::endpoint endpoint;
        const auto address = asio::ip::make_address(opts.host, ec);
        if (!ec) {
            endpoint = tcp::endpoint(address, opts.port);
        } else {
            tcp::resolver resolver(ioc);
            auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
            if (ec) {
                return ec;
            }
            endpoint = *results.begin();
        }
        if (opts.tls) {
            secure.emplace(ioc, *ssl_ctx);
        } else {
            plain.emplace(ioc);
        }
        ++connects;
        lowest().expires_at(deadline);
        ec = run([&](auto handler) { lowest().async_connect(endpoint, std::move(handler)); });
        if (ec) {
            close();
            return ec;
        }
        error_code ignored;
        lowest().socket().set_option(tcp::no_delay(true), ignored);
        if (opts.tls) {
            if (!is_ip_address(opts.server_name)) {
                SSL_set_tlsext_host_name(secure->native_handle(), opts.server_name.c_str());
            }
            secure->set_verify_callback(ssl::host_name_verification(opts.server_name));
            ec = run(
                [&](auto handler) { secure->async_handshake(ssl::stream_base::client, std::move(handler)); });
            if (ec) {
                close();
                return ec;
            }
        }
        return {};
    }

    template <class Op>
    error_code io(Op&& op) {
        if (secure) {
            return run([&](auto handler) { op(*secure, std::move(handler)); });
        }
        return run([&](auto handler) { op(*plain, std::move(handler)); });
    }

    http_result request(std::string_view method, std::string_view target, const header_map& headers,
                        std::string_view body, std::chrono::milliseconds timeout) {
        http_result result;
        const auto start = clock::now();
        const auto deadline = start + timeout;
        auto finish = [&](error_code ec) {
            result.error = ec;
            result.elapsed = clock::now() - start;
            if (ec) {
                result.status = 0;
                result.headers.clear();
                result.body.clear();
                close();
            }
            return std::move(result);
        };

        if (!open()) {
            result.new_connection = true;
            if (auto ec = connect(deadline)) {
                return finish(ec);
            }
        }

        http::request<http::string_body> req;
        req.version(11);
        req.method_string(method);
        req.target(target);
        req.set(http::field::host, opts.host + ":" + std::to_string(opts.port));
        req.set(http::field::user_agent, "msgflash-test-client");
        for (const auto& [name, value] : headers) {
            req.set(name, value);
        }
        if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
            req.body() = std::string(body);
            req.prepare_payload();
        }

        lowest().expires_at(deadline);
        if (auto ec =
                io([&](auto& stream, auto handler) { http::async_write(stream, req, std::move(handler)); })) {
            return finish(ec);
        }
        result.request_written = true;

        http::response_parser<http::string_body> parser;
        parser.body_limit(opts.body_limit);
        lowest().expires_at(deadline);
        if (auto ec = io([&](auto& stream, auto handler) {
                http::async_read(stream, buffer, parser, std::move(handler));
            })) {
            return finish(ec);
        }
        lowest().expires_never();

        auto message = parser.release();
        result.status = message.result_int();
        for (const auto& field : message) {
            result.headers.insert_or_assign(std::string(field.name_string()), std::string(field.value()));
        }
        result.body = std::move(message.body());
        if (!message.keep_alive()) {
            close();
        }
        return finish({});
    }

    client_options opts;
    asio::io_context ioc;
    std::optional<ssl::context> ssl_ctx;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    std::size_t connects = 0;
};

http_client::http_client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

http_result http_client::request(std::string_view method, std::string_view target, const header_map& headers,
                                 std::string_view body, std::optional<std::chrono::milliseconds> timeout) {
    return impl_->request(method, target, headers, body, timeout.value_or(impl_->opts.timeout));
}

http_result http_client::get(std::string_view target, const header_map& headers) {
    return request("GET", target, headers);
}

http_result http_client::post(std::string_view target, std::string_view body, const header_map& headers) {
    header_map h = headers;
    if (h.find("Content-Type") == h.end()) {
        h.emplace("Content-Type", "application/json");
    }
    return request("POST", target, h, body);
}

void http_client::close() {
    impl_->close();
}
bool http_client::is_open() const {
    return impl_->open();
}
std::size_t http_client::connections_opened() const {
    return impl_->connects;
}
const client_options& http_client::options() const {
    return impl_->opts;
}

}  // namespace msgflash::test
