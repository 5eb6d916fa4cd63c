// The HTTP/1.1 transport to one origin (host:port), plain or TLS: a pool of kept-alive connections with a
// global cap, fair queueing, timeouts and prompt cancellation, telling for every failure whether the request
// left. Knows HTTP, not MsgFlash (api_client.hpp builds the requests and reads the answers).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "config/config.hpp"
#include "core/classifier.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::api {

// The largest answer body read: MsgFlash answers are small JSON documents (a page of 100 messages is tens of
// KiB), so anything near this is a broken or hostile server. Reading stops there and the connection closes.
inline constexpr std::size_t default_max_body_bytes = std::size_t{4} << 20;

struct pool_options {
    http_origin origin;                                  // https, or http to a loopback host only
    std::size_t max_connections = 256;                   // api.max_connections: open + opening, idle included
    std::chrono::milliseconds connect_timeout{5'000};    // api.connect_timeout: resolve + TCP connect
    std::chrono::milliseconds handshake_timeout{5'000};  // TLS handshake (api.connect_timeout by default)
    std::chrono::milliseconds request_timeout{15'000};  // api.timeout: first byte written → whole answer read
    std::chrono::milliseconds queue_timeout{15'000};    // waiting for a connection while all are busy
    // A kept-alive connection unused this long is closed. Below Node.js' default keepAliveTimeout (5 s), the
    // shortest server-side idle limit in common use, so that we close first and the race below stays rare.
    std::chrono::milliseconds idle_timeout{4'000};
    // Idle connections older than this are checked for a close by the server before reuse (one poll(2)).
    // Younger ones are not: a close that recent may still be in flight for a round trip, so the check could
    // not see it anyway, and a busy pool would pay a system call per request for nothing.
    std::chrono::milliseconds liveness_check_after{10};
    // getaddrinfo gives no TTL: resolved addresses are reused this long (and dropped when a connect fails).
    std::chrono::milliseconds resolve_ttl{60'000};
    std::size_t max_body_bytes = default_max_body_bytes;
    std::filesystem::path ca_file;  // api.ca_file: trusted in addition to the system store
};

// One request as the pool writes it, in one buffer: "<method> <target> HTTP/1.1", Host, `fields` verbatim,
// Content-Length (when there is a body, and always for POST), an empty line, the body.
struct http_request {
    std::string_view method = "GET";  // a literal: "GET", "POST"
    std::string target;               // origin-form, "/api/v1/instances"; no spaces or line breaks
    std::string fields;               // "Name: value\r\n" lines, without Host and Content-Length
    std::string body;
    // Called just before the request is written on an open connection (each time: a replay calls it again),
    // after any wait for a connection and its TCP and TLS handshakes — the moment a pacer must count.
    std::function<void()> on_write;
};

// One request's fate.
struct http_exchange {
    // answered: a whole HTTP answer (any status) is below. unparseable: its status line and headers came but
    // the body could not be read as HTTP (too large, bad chunking). not_sent / ambiguous: no answer; see the
    // rule in transport_rules.hpp.
    transport_outcome outcome = transport_outcome::not_sent;
    boost::system::error_code ec;  // empty when answered
    std::string detail;            // what failed, for logs; never a header value
    unsigned status = 0;           // also for unparseable
    std::string content_type;
    std::string retry_after;
    std::string body;
    std::uint64_t connection_id = 0;
    bool reused_connection = false;  // the (last) attempt ran on a connection from the idle pool
    bool replayed = false;           // sent twice: the first time on a stale kept-alive connection
};

struct pool_stats {
    std::size_t open = 0;     // connections counted against max_connections (in use, idle, opening)
    std::size_t idle = 0;     // kept alive, unused
    std::size_t waiting = 0;  // requests queued for a connection
    std::size_t in_flight = 0;
    std::uint64_t connections_opened = 0;  // TCP connections established
    std::uint64_t tls_handshakes = 0;      // completed TLS handshakes
    std::uint64_t tls_resumed = 0;         // of which resumed an earlier session
    std::uint64_t stale_discarded = 0;     // idle connections found closed by the server before reuse
    std::uint64_t replays = 0;             // requests sent again after a stale connection
};

// Connections and requests:
//  * HTTP/1.1, one request per connection at a time (no pipelining). A request takes the most recently used
//    idle connection (the others age out), else opens one while fewer than max_connections exist, else
//    queues; queued requests are served first come, first served as connections free up.
//  * Before reuse an idle connection is checked without blocking (if idle for liveness_check_after): readable
//    (EOF, reset, a TLS alert, stray bytes) or idle past idle_timeout means the server may have closed it,
//    and it is discarded unused.
//  * Transparent replay: if the server closes a kept-alive connection just as a request is written, the
//    request is sent once more on a fresh connection — only when it cannot have been acted on twice: the
//    write failed with no byte accepted, or (idempotent requests only) the reused connection was closed or
//    reset with no byte of an answer. A POST that was written is never replayed: the same close could follow
//    a server that acted on it, so it is reported ambiguous (transport_rules.hpp, decide_failure).
//  * Timeouts: connect_timeout (resolve + connect), handshake_timeout, request_timeout (writing and reading),
//    queue_timeout. Failures before any byte is written are not_sent; after, ambiguous. The first three are
//    enforced by one sweep per pool, every tenth of the shortest of them (5-100 ms), while requests are in
//    flight: no timer operation per request, and a timeout fires up to one sweep late.
//  * TLS: OpenSSL, peer verified against the system store plus ca_file, SNI for names, the certificate must
//    match the host (names and IP addresses), TLS 1.2 or later; sessions are resumed across connections.
//  * cancel_all() ends every queued and in-flight request at once with asio::error::operation_aborted (not
//    sent, or ambiguous if it had been written) and closes every connection; the pool stays usable.
//    shutdown() does the same and refuses new requests. Afterwards the pool leaves no work on the executor.
//    The caller's own per-operation cancellation (e.g. `timer || request`) is honoured the same way.
//
// Not thread-safe: use it from one thread — the one running its executor's io_context, or one strand.
// cancel_all() and shutdown() may be called from any thread (they are dispatched to the executor). The
// destructor shuts down synchronously, so destroy the pool on its executor's thread or after the io_context
// has stopped; requests still running keep the pool's state alive until they complete.
class http_pool {
  public:
    // Throws std::invalid_argument for an origin the client must not use (plain http:// off this machine, no
    // host, port 0) and std::runtime_error when ca_file cannot be loaded.
    http_pool(boost::asio::any_io_executor executor, pool_options options,
              std::shared_ptr<spdlog::logger> log);
    ~http_pool();
    http_pool(const http_pool&) = delete;
    http_pool& operator=(const http_pool&) = delete;

    // Sends `request` and reads the answer. Never throws for network, TLS, HTTP or cancellation failures. The
    // bytes written (which carry the caller's credentials) are overwritten once sent.
    boost::asio::awaitable<http_exchange> execute(http_request request, bool idempotent);

    void cancel_all();
    void shutdown();

    pool_stats stats() const;
    const pool_options& options() const;
    const boost::asio::any_io_executor& get_executor() const;

    class impl;

  private:
    std::shared_ptr<impl> impl_;
};

}  // namespace msgflash::api
