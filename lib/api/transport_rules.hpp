// The transport's decisions that need no socket: which origins may use plain http, and what a failed exchange
// means — not sent, ambiguous or unparseable — and whether it may be replayed on a fresh connection.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include "config/config.hpp"
#include "core/classifier.hpp"

namespace msgflash::api {

// localhost (any case, optional trailing dot), 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool is_loopback_host(std::string_view host);
bool is_loopback_address(const boost::asio::ip::address& address);

// Why the client refuses to talk to this origin (plain http:// off this machine, no host, port 0), or
// nullopt.
std::optional<std::string> origin_problem(const http_origin& origin);

// How far an exchange had got when it failed.
enum class exchange_phase { queue, resolve, connect, handshake, write, read };

struct failure_facts {
    exchange_phase phase = exchange_phase::queue;
    boost::system::error_code ec;
    bool reused_connection = false;  // the connection came from the idle pool
    std::size_t bytes_written = 0;   // of the request, accepted by the kernel (by TLS: plaintext bytes)
    bool answer_started = false;     // at least one byte of an answer arrived
    bool header_complete = false;    // its status line and headers were read whole
    bool idempotent = false;         // the request may be repeated without effect (GET, template preview)
    bool cancelled = false;          // cancel_all(), shutdown() or the caller's cancellation
};

struct failure_decision {
    transport_outcome outcome = transport_outcome::not_sent;
    bool replay = false;  // send the request again, once, on a fresh connection
};

// The rule (see http_pool.hpp for why):
//  * before the first byte is written (queueing, resolving, connecting, handshaking, or a write that failed
//    with nothing accepted): not_sent. Replayed only when the write failed on a reused connection because the
//    peer had closed it — nothing reached the server, whatever the method.
//  * any byte written and no whole answer (timeout, reset, EOF, cancellation, a partial or malformed status
//    line/header): ambiguous. Replayed only when the connection was reused from idle, no byte of an answer
//    arrived, the connection was closed or reset by the peer, and the request is idempotent: a server that
//    closes a kept-alive connection just as a request arrives is indistinguishable from one that acted on the
//    request and then closed (RFC 9110 §9.2.2, RFC 9112 §9.3.1), so a send is never replayed this way.
//  * the status line and headers arrived whole but the body could not be read as HTTP (too large, bad
//    chunking): unparseable, with the status.
failure_decision decide_failure(const failure_facts& facts);

// The peer closed or reset the connection: EOF, ECONNRESET, EPIPE, ECONNABORTED, a TLS stream truncated.
bool is_connection_loss(const boost::system::error_code& ec);

}  // namespace msgflash::api
