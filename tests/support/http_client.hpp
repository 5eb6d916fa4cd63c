// A small blocking HTTP/1.1 client for tests: one keep-alive connection (plain or TLS) to a loopback server.
// Transport failures come back as error codes in the result, never as exceptions, so tests can assert them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace msgflash::test {

// Header names compare case-insensitively, as HTTP says.
struct header_name_less {
    bool operator()(std::string_view a, std::string_view b) const;
    using is_transparent = void;
};
using header_map = std::map<std::string, std::string, header_name_less>;

struct client_options {
    std::string host = "127.0.0.1";  // tests only ever talk to loopback
    std::uint16_t port = 0;
    bool tls = false;
    std::string ca_file;                        // the only CA trusted for TLS
    std::string server_name = "localhost";      // SNI (unless an IP) and the name the certificate must match
    std::chrono::milliseconds timeout{10'000};  // per request: connect, handshake, write and read together
    std::size_t body_limit = 64u << 20;  // answers with larger bodies fail with http::error::body_limit
};

struct http_result {
    unsigned status = 0;  // 0 when error is set
    header_map headers;
    std::string body;
    // Transport error: connection refused, reset, EOF with no answer, timeout (beast::error::timeout),
    // TLS verification failure, unparseable answer. Empty on success whatever the status.
    boost::system::error_code error;
    bool request_written = false;  // the error happened after the whole request was written (ambiguous)
    bool new_connection = false;   // this request opened a new connection
    std::chrono::steady_clock::duration elapsed{};

    bool ok() const { return !error; }
    // The header's value, or "" when absent.
    std::string header(std::string_view name) const;
};

class http_client {
  public:
    explicit http_client(client_options options);
    ~http_client();
    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Sends one request on the kept-alive connection (connecting first if needed). Never retries: after a
    // transport error the connection is closed and the next request opens a new one. `timeout` overrides the
    // options' timeout for this request.
    http_result request(std::string_view method, std::string_view target, const header_map& headers = {},
                        std::string_view body = {}, std::optional<std::chrono::milliseconds> timeout = {});
    http_result get(std::string_view target, const header_map& headers = {});
    // POST with Content-Type: application/json unless the headers say otherwise.
    http_result post(std::string_view target, std::string_view body, const header_map& headers = {});

    void close();
    bool is_open() const;
    std::size_t connections_opened() const;  // TCP connections made so far
    const client_options& options() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// True for the errors a client sees when the server closes or resets with no answer.
bool is_no_answer(const boost::system::error_code& ec);

}  // namespace msgflash::test
