// The pool's state lives in one `impl` shared by every request coroutine, so that it outlives the handle
// while requests are still unwinding. Everything runs on one executor: no locks, and each step re-checks
// `aborted` after every co_await because cancel_all() may have run in between.
//
// Timeouts are not one timer per operation: each in-flight request records its deadline, and one sweep per
// pool (running only while requests are in flight, every min(timeouts)/10, 5–100 ms) closes what a late
// request is waiting on. A busy pool then pays no timer operation per request; a timeout fires up to one
// sweep late.
#include "api/http_pool.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <list>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "api/api_result.hpp"
#include "api/transport_rules.hpp"

namespace msgflash::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto never = steady::time_point::max();

// GCC 12 miscompiles co_await in some expression positions (an operand of && or ?:): every co_await here is a
// statement or a variable's initializer.

// An answer's status line and headers: MsgFlash sends a handful of short headers.
constexpr std::uint32_t response_header_limit = 16 * 1024;
// Each read asks for this much: an instance list or a page of messages comes in one read. A connection's
// buffer is trimmed back to it when an answer grew it past idle_buffer_bytes (up to 256 connections idle).
constexpr std::size_t read_chunk_bytes = 16 * 1024;
constexpr std::size_t idle_buffer_bytes = 64 * 1024;
// The timeout sweep's period: a tenth of the shortest timeout, within these bounds.
constexpr std::chrono::milliseconds min_sweep{5};
constexpr std::chrono::milliseconds max_sweep{100};

struct ssl_session_free {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using ssl_session_ptr = std::unique_ptr<SSL_SESSION, ssl_session_free>;

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

std::string host_header(const http_origin& o) {
    std::string h = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    if (o.port != (o.tls ? 443 : 80)) {
        h += ':' + std::to_string(o.port);
    }
    return h;
}

// What the request line and the caller's fields may not contain: they would end or split the header.
bool is_clean_target(std::string_view t) {
    return !t.empty() && t.front() == '/' && t.find_first_of(" \t\r\n") == std::string_view::npos;
}
bool is_clean_fields(std::string_view f) {
    return (f.empty() || f.ends_with("\r\n")) && f.find("\r\n\r\n") == std::string_view::npos &&
           !f.starts_with("\r\n");
}

// A request goes out as one gather write of four buffers — the request line and Host, the caller's fields,
// Content-Length and the empty line, the body — so that the fields (which carry the key) are never copied.
// `head` and `tail` are the connection's, reused.
struct request_wire {
    std::string& head;
    std::string& tail;
};

std::array<asio::const_buffer, 4> wire_buffers(const http_request& r, std::string_view host, request_wire w) {
    w.head.clear();
    w.head.append(r.method).append(" ").append(r.target).append(" HTTP/1.1\r\nHost: ").append(host);
    w.head.append("\r\n");
    w.tail.clear();
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
        w.tail.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    }
    w.tail.append("\r\n");
    return {asio::buffer(w.head), asio::buffer(r.fields), asio::buffer(w.tail), asio::buffer(r.body)};
}

// What a request keeps of its answer: the status, two headers and the body.
struct answer {
    unsigned status = 0;
    std::string content_type;
    std::string retry_after;
    std::string body;
};

// An HTTP/1.1 response parser that keeps only what `answer` holds: no header map, so no allocation per header
// field (Beast's response_parser builds a basic_fields). One per answer: Beast's parsers cannot be reset.
class response_reader final : public http::basic_parser<false> {
  public:
    response_reader(answer& a, std::size_t body_limit) : answer_(a) {
        header_limit(response_header_limit);
        this->body_limit(body_limit);
        eager(true);
    }

  private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int, error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, error_code&) override {
        answer_.status = static_cast<unsigned>(code);
        answer_.content_type.clear();
        answer_.retry_after.clear();
        answer_.body.clear();
    }
    void on_field_impl(http::field f, beast::string_view, beast::string_view value, error_code&) override {
        if (f == http::field::content_type) {
            answer_.content_type.assign(value.data(), value.size());
        } else if (f == http::field::retry_after) {
            answer_.retry_after.assign(value.data(), value.size());
        }
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (length) {
            // At most body_limit: the parser refuses a larger Content-Length before any body byte.
            answer_.body.reserve(static_cast<std::size_t>(*length));
        }
    }
    std::size_t on_body_impl(beast::string_view s, error_code&) override {
        answer_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code&) override {
        answer_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_finish_impl(error_code&) override {}

    answer& answer_;
};

// Overwrites a buffer that held credentials before its memory goes back to the allocator.
void wipe(std::string& s) noexcept {
    if (!s.empty()) {
        OPENSSL_cleanse(s.data(), s.size());
    }
}

ssl::context make_tls_context(const pool_options& o, spdlog::logger& log) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    ctx.set_verify_mode(ssl::verify_peer);
    error_code ec;
    ctx.set_default_verify_paths(ec);
    if (ec) {
        log.warn("msgflash api: cannot load the system's trusted CA certificates: {}", ec.message());
    }
    if (!o.ca_file.empty()) {
        ctx.load_verify_file(o.ca_file.string(), ec);
        if (ec) {
            throw std::runtime_error("api.ca_file " + o.ca_file.string() + ": cannot load: " + ec.message());
        }
    }
    return ctx;
}

// One connection: its socket (under TLS or not), its read buffer, and when it went idle.
class connection {
  public:
    connection(const asio::any_io_executor& ex, ssl::context* tls, std::uint64_t number) : id(number) {
        if (tls != nullptr) {
            tls_.emplace(ex, *tls);
        } else {
            plain_.emplace(ex);
        }
        buffer.reserve(read_chunk_bytes);
    }

    tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
    bool is_tls() const { return tls_.has_value(); }
    ssl::stream<tcp::socket>& tls() { return *tls_; }
    tcp::socket& plain() { return *plain_; }
    SSL* ssl() { return tls_->native_handle(); }

    // Closes the socket: pending operations complete with operation_aborted. Idempotent.
    void close() noexcept {
        error_code ignored;
        socket().close(ignored);
    }

    // Could this idle connection carry a request? Not if anything is waiting to be read — EOF, a reset, a TLS
    // alert or stray bytes all mean the server closed it or broke the protocol. One poll(2), no blocking.
    bool looks_alive() {
        if (buffer.size() != 0 || !socket().is_open()) {
            return false;
        }
        if (tls_ && SSL_has_pending(ssl()) == 1) {
            return false;
        }
        pollfd p{};
        p.fd = socket().native_handle();
        p.events = POLLIN;
        return ::poll(&p, 1, 0) == 0;
    }

    const std::uint64_t id;
    beast::flat_buffer buffer;
    std::string wire_head;  // request_wire's, capacity kept
    std::string wire_tail;
    steady::time_point idle_since{};
    std::uint64_t requests = 0;
    bool session_saved = false;

  private:
    std::optional<tcp::socket> plain_;
    std::optional<ssl::stream<tcp::socket>> tls_;
};

// A request queued for a connection. The pool hands it a connection (or the right to open one) and wakes it
// by cancelling its timer; the timer expiring means queue_timeout.
struct waiter {
    waiter(const asio::any_io_executor& ex, std::deque<waiter*>& queue) : timer(ex), queue_(queue) {
        queue_.push_back(this);
    }
    ~waiter() { leave_queue(); }
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    void leave_queue() {
        if (queued) {
            queue_.erase(std::find(queue_.begin(), queue_.end(), this));
            queued = false;
        }
    }

    asio::steady_timer timer;
    std::unique_ptr<connection> conn;
    bool granted = false;
    bool queued = true;

  private:
    std::deque<waiter*>& queue_;
};

// One in-flight request as cancel_all() and the timeout sweep see it: what it is waiting on.
struct request_slot {
    connection* conn = nullptr;         // being opened or used
    tcp::resolver* resolver = nullptr;  // resolving
    steady::time_point deadline = never;
    bool aborted = false;    // cancel_all(), shutdown() or the caller's cancellation
    bool timed_out = false;  // the sweep found it past its deadline
    std::list<request_slot*>::iterator pos;

    void interrupt() {
        if (conn != nullptr) {
            conn->close();
        }
        if (resolver != nullptr) {
            resolver->cancel();
        }
    }
    void abort() {
        aborted = true;
        interrupt();
    }
    void expire() {
        timed_out = true;
        deadline = never;
        interrupt();
    }
};

struct lease {
    std::unique_ptr<connection> conn;  // ready to use; null: open a new one (the slot is counted)
    error_code ec;                     // set: no slot at all
    std::string detail;
};

struct exchange_result {
    bool ok = false;
    failure_facts facts;
    std::string detail;
    unsigned status = 0;
    bool keep_alive = false;
};

std::chrono::milliseconds sweep_period(const pool_options& o) {
    const auto shortest = std::min({o.connect_timeout, o.handshake_timeout, o.request_timeout});
    return std::clamp(shortest / 10, min_sweep, max_sweep);
}

}  // namespace

class http_pool::impl : public std::enable_shared_from_this<impl> {
  public:
    impl(asio::any_io_executor ex, pool_options o, std::shared_ptr<spdlog::logger> log)
        : ex_(std::move(ex)),
          opts_(std::move(o)),
          log_(log ? std::move(log)
                   : std::make_shared<spdlog::logger>("msgflash.api",
                                                      std::make_shared<spdlog::sinks::null_sink_mt>())),
          host_header_(host_header(opts_.origin)),
          port_text_(std::to_string(opts_.origin.port)),
          sweep_period_(sweep_period(opts_)),
          reap_timer_(ex_),
          sweep_timer_(ex_) {
        if (auto problem = origin_problem(opts_.origin)) {
            throw std::invalid_argument(*problem);
        }
        if (opts_.max_connections == 0) {
            throw std::invalid_argument("api.max_connections must be at least 1");
        }
        if (opts_.origin.tls) {
            tls_ctx_.emplace(make_tls_context(opts_, *log_));
        }
        if (is_ip_literal(opts_.origin.host)) {
            literal_endpoints_.emplace_back(asio::ip::make_address(opts_.origin.host), opts_.origin.port);
        }
    }

    // ---- the request ------------------------------------------------------------------------------------

    static asio::awaitable<http_exchange> run(std::shared_ptr<impl> self, http_request req, bool idempotent) {
        impl& p = *self;
        http_exchange out;
        request_slot slot;
        p.in_flight_.push_front(&slot);
        slot.pos = p.in_flight_.begin();
        struct unregister {
            impl& p;
            request_slot& s;
            ~unregister() { p.in_flight_.erase(s.pos); }
        } registration{p, slot};

        if (p.shut_down_) {
            out.ec = asio::error::operation_aborted;
            out.detail = "the API client is shut down";
            co_return out;
        }
        if (!is_clean_target(req.target) || !is_clean_fields(req.fields)) {
            out.ec = asio::error::invalid_argument;
            out.detail = "refusing to send a malformed request (target or header lines)";
            wipe(req.fields);
            co_return out;
        }
        // The header lines carry the credentials: wiped whatever happens.
        struct fields_wiper {
            std::string& fields;
            ~fields_wiper() { wipe(fields); }
        } wiper{req.fields};

        // The common case needs no suspension: an idle connection, or room for a new one.
        lease l;
        if (auto idle = p.take_idle()) {
            l.conn = std::move(idle);
        } else if (p.waiters_.empty() && p.total_ < p.opts_.max_connections) {
            ++p.total_;
        } else {
            l = co_await p.wait_for_connection(slot, steady::now() + p.opts_.queue_timeout);
        }
        if (l.ec) {
            out.ec = l.ec;
            out.detail = std::move(l.detail);
            co_return out;
        }
        // From here the request holds one of the pool's max_connections slots: `conn`, or the right to open
        // one. slot_holder gives it back whatever happens, exceptions included.
        struct slot_holder {
            impl& p;
            std::unique_ptr<connection> conn;
            bool held = true;
            ~slot_holder() {
                if (held) {
                    p.drop(std::move(conn));
                }
            }
        } hold{p, std::move(l.conn)};

        for (int attempt = 0;; ++attempt) {
            const bool reused = hold.conn != nullptr;
            if (!reused) {
                hold.conn = p.new_connection();
                slot.conn = hold.conn.get();
                std::string detail;
                error_code ec = co_await p.establish(*hold.conn, slot, detail);
                slot.conn = nullptr;
                if (ec) {
                    out.ec = ec;
                    out.detail = std::move(detail);
                    out.connection_id = hold.conn->id;
                    co_return out;  // not_sent; the holder closes the connection and frees the slot
                }
            }
            slot.conn = hold.conn.get();
            answer a;
            exchange_result r = co_await p.exchange(*hold.conn, req, slot, idempotent, reused, a);
            slot.conn = nullptr;
            out.connection_id = hold.conn->id;
            out.reused_connection = reused;
            if (r.ok) {
                out.outcome = transport_outcome::answered;
                out.status = r.status;
                out.content_type = std::move(a.content_type);
                out.retry_after = std::move(a.retry_after);
                out.body = std::move(a.body);
                if (r.keep_alive && hold.conn->buffer.size() == 0) {
                    if (hold.conn->buffer.capacity() > idle_buffer_bytes) {
                        hold.conn->buffer.shrink_to_fit();
                        hold.conn->buffer.reserve(read_chunk_bytes);
                    }
                    hold.held = false;
                    p.put_back(std::move(hold.conn));
                }
                co_return out;
            }
            const failure_decision d = decide_failure(r.facts);
            hold.conn->close();
            if (d.replay && attempt == 0 && !slot.aborted && !p.shut_down_) {
                p.log_->debug(
                    "msgflash api: {} {}: kept-alive connection #{} was closed by the server before "
                    "answering ({}); sending again on a fresh connection",
                    req.method, req.target, hold.conn->id, r.facts.ec.message());
                ++p.counters_.replays;
                out.replayed = true;
                hold.conn.reset();  // the slot stays ours: the fresh connection takes it
                continue;
            }
            out.outcome = d.outcome;
            out.ec = r.facts.ec;
            out.detail = std::move(r.detail);
            if (r.facts.header_complete) {
                out.status = r.status;
            }
            co_return out;
        }
    }

    // The caller's own cancellation (`timer || request`) reaches an operation in progress through Asio's
    // cancellation slot; one that lands while a completed operation's handler is still queued is only
    // recorded in the coroutine's state. Each step folds it into the slot's flag before starting anything
    // new.
    static void fold_caller_cancellation(request_slot& slot, const asio::cancellation_state& state) {
        if (state.cancelled() != asio::cancellation_type::none) {
            slot.aborted = true;
        }
    }

    // What an operation's error means, given what cancel_all(), the sweep or the caller did meanwhile.
    static error_code blame(const request_slot& slot, error_code ec, client_errc timeout) {
        if (slot.aborted) {
            return asio::error::operation_aborted;
        }
        if (slot.timed_out) {
            return timeout;
        }
        return ec;
    }

    // ---- deadlines
    // -----------------------------------------------------------------------------------------

    void watch(request_slot& slot, steady::time_point deadline) {
        slot.deadline = deadline;
        slot.timed_out = false;
        stop_sweeping_ = false;  // a sweep that cancel_all() was stopping carries on for this one
        if (!sweeping_) {
            sweeping_ = true;
            asio::co_spawn(ex_, sweep(shared_from_this()), asio::detached);
        }
    }

    static void unwatch(request_slot& slot) { slot.deadline = never; }

    // Runs while requests are in flight: closes what a request past its deadline waits on.
    static asio::awaitable<void> sweep(std::shared_ptr<impl> self) {
        impl& p = *self;
        while (!p.in_flight_.empty() && !p.stop_sweeping_) {
            p.sweep_timer_.expires_after(p.sweep_period_);
            auto [ec] = co_await p.sweep_timer_.async_wait(use_nothrow);
            (void)ec;
            const auto now = steady::now();
            for (request_slot* s : p.in_flight_) {
                if (now >= s->deadline) {
                    s->expire();
                }
            }
        }
        p.sweeping_ = false;
        p.stop_sweeping_ = false;
    }

    // ---- connections --------------------------------------------------------------------------------------

    std::unique_ptr<connection> new_connection() {
        return std::make_unique<connection>(ex_, tls_ctx_ ? &*tls_ctx_ : nullptr, next_connection_id_++);
    }

    // Every connection is busy: queue, first come first served, until one is handed over or may be opened.
    asio::awaitable<lease> wait_for_connection(request_slot& slot, steady::time_point deadline) {
        waiter w(ex_, waiters_);
        w.timer.expires_at(deadline);
        auto [ec] = co_await w.timer.async_wait(use_nothrow);
        w.leave_queue();
        const auto state = co_await asio::this_coro::cancellation_state;
        const bool cancelled = slot.aborted || state.cancelled() != asio::cancellation_type::none;
        if (w.granted) {
            if (cancelled) {
                if (w.conn) {
                    put_back(std::move(w.conn));
                } else {
                    free_slot();
                }
                co_return lease{nullptr, asio::error::operation_aborted,
                                "cancelled while waiting for a connection"};
            }
            co_return lease{std::move(w.conn), {}, {}};
        }
        if (cancelled || ec == asio::error::operation_aborted) {
            co_return lease{nullptr, asio::error::operation_aborted,
                            "cancelled while waiting for a connection"};
        }
        co_return lease{nullptr, client_errc::queue_timeout,
                        "all " + std::to_string(opts_.max_connections) + " connections stayed busy for " +
                            std::to_string(opts_.queue_timeout.count()) + " ms"};
    }

    // The most recently used idle connection that still looks usable; the stale ones are closed on the way.
    std::unique_ptr<connection> take_idle() {
        while (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            const auto idle_for = steady::now() - c->idle_since;
            if (idle_for >= opts_.idle_timeout) {
                c->close();
                --total_;
                continue;
            }
            if (idle_for >= opts_.liveness_check_after && !c->looks_alive()) {
                discard_stale(std::move(c));
                --total_;
                continue;
            }
            return c;
        }
        return nullptr;
    }

    void discard_stale(std::unique_ptr<connection> c) {
        ++counters_.stale_discarded;
        log_->debug("msgflash api: idle connection #{} was closed by the server; not reusing it", c->id);
        c->close();
    }

    // A healthy connection after a whole answer: to the first queued request, else to the idle list.
    void put_back(std::unique_ptr<connection> c) {
        if (shut_down_) {
            drop(std::move(c));
            return;
        }
        if (!waiters_.empty()) {
            waiter* w = waiters_.front();
            waiters_.pop_front();
            w->queued = false;
            w->granted = true;
            w->conn = std::move(c);
            w->timer.cancel();
            return;
        }
        c->idle_since = steady::now();
        idle_.push_back(std::move(c));
        arm_reaper();
    }

    // Closes a connection (if any) and frees its slot: to the first queued request, which opens a new one.
    void drop(std::unique_ptr<connection> c) {
        if (c) {
            c->close();
            log_->trace("msgflash api: connection #{} closed after {} requests", c->id, c->requests);
        }
        free_slot();
    }

    void free_slot() {
        if (!waiters_.empty()) {
            waiter* w = waiters_.front();
            waiters_.pop_front();
            w->queued = false;
            w->granted = true;
            w->timer.cancel();
            return;
        }
        --total_;
    }

    // Closes idle connections as they pass idle_timeout; runs only while some are idle.
    void arm_reaper() {
        if (reaping_ || idle_.empty() || shut_down_) {
            return;
        }
        reaping_ = true;
        asio::co_spawn(ex_, reap(shared_from_this()), asio::detached);
    }

    static asio::awaitable<void> reap(std::shared_ptr<impl> self) {
        impl& p = *self;
        while (!p.idle_.empty() && !p.shut_down_) {
            p.reap_timer_.expires_at(p.idle_.front()->idle_since + p.opts_.idle_timeout);
            auto [ec] = co_await p.reap_timer_.async_wait(use_nothrow);
            (void)ec;
            const auto now = steady::now();
            while (!p.idle_.empty() && now - p.idle_.front()->idle_since >= p.opts_.idle_timeout) {
                p.idle_.front()->close();
                p.idle_.erase(p.idle_.begin());
                --p.total_;
            }
        }
        p.reaping_ = false;
    }

    // ---- opening a connection -----------------------------------------------------------------------------

    asio::awaitable<error_code> resolve(request_slot& slot, std::vector<tcp::endpoint>& out,
                                        std::string& detail) {
        if (!literal_endpoints_.empty()) {
            out = literal_endpoints_;
            co_return error_code{};
        }
        if (!resolved_.empty() && steady::now() < resolved_expiry_) {
            out = resolved_;
            co_return error_code{};
        }
        tcp::resolver resolver(ex_);
        slot.resolver = &resolver;
        auto [resolve_ec, results] =
            co_await resolver.async_resolve(opts_.origin.host, port_text_, use_nothrow);
        slot.resolver = nullptr;
        const error_code ec = blame(slot, resolve_ec, client_errc::connect_timeout);
        if (ec) {
            detail = "resolving " + opts_.origin.host + ": " + ec.message();
            co_return ec;
        }
        out.clear();
        for (const auto& entry : results) {
            // Plain http stays on this machine even if the name resolves elsewhere.
            if (opts_.origin.tls || is_loopback_address(entry.endpoint().address())) {
                out.push_back(entry.endpoint());
            }
        }
        if (out.empty()) {
            detail = "resolving " + opts_.origin.host + ": " +
                     (opts_.origin.tls ? "no address" : "no loopback address for plain http://");
            co_return opts_.origin.tls ? error_code(asio::error::host_not_found)
                                       : error_code(client_errc::not_loopback);
        }
        resolved_ = out;
        resolved_expiry_ = steady::now() + opts_.resolve_ttl;
        co_return error_code{};
    }

    asio::awaitable<error_code> establish(connection& c, request_slot& slot, std::string& detail) {
        const auto started = steady::now();
        watch(slot, started + opts_.connect_timeout);  // resolving and connecting together
        std::vector<tcp::endpoint> endpoints;
        error_code ec = co_await resolve(slot, endpoints, detail);
        if (ec) {
            co_return ec;
        }
        {
            const auto state = co_await asio::this_coro::cancellation_state;
            fold_caller_cancellation(slot, state);
        }
        if (slot.aborted || slot.timed_out) {
            co_return blame(slot, {}, client_errc::connect_timeout);
        }
        auto [connect_ec, endpoint] = co_await asio::async_connect(c.socket(), endpoints, use_nothrow);
        if (connect_ec || slot.aborted || slot.timed_out) {
            ec = blame(slot, connect_ec, client_errc::connect_timeout);
            if (!slot.aborted) {
                resolved_.clear();  // the addresses may have moved: resolve again next time
            }
            detail = "connecting to " + opts_.origin.to_string() + ": " + ec.message();
            co_return ec;
        }
        error_code ignored;
        c.socket().set_option(tcp::no_delay(true), ignored);
        ++counters_.connections_opened;
        bool resumed = false;
        if (c.is_tls()) {
            SSL* ssl = c.ssl();
            // SNI carries names only (RFC 6066 §3).
            if (literal_endpoints_.empty() && SSL_set_tlsext_host_name(ssl, opts_.origin.host.c_str()) != 1) {
                detail = "TLS: cannot set the server name " + opts_.origin.host;
                co_return error_code(asio::error::invalid_argument);
            }
            c.tls().set_verify_callback(ssl::host_name_verification(opts_.origin.host));
            if (session_) {
                SSL_set_session(ssl, session_.get());
            }
            {
                const auto state = co_await asio::this_coro::cancellation_state;
                fold_caller_cancellation(slot, state);
            }
            if (slot.aborted) {
                co_return error_code(asio::error::operation_aborted);
            }
            watch(slot, steady::now() + opts_.handshake_timeout);
            auto [handshake_ec] = co_await c.tls().async_handshake(ssl::stream_base::client, use_nothrow);
            if (handshake_ec || slot.aborted || slot.timed_out) {
                ec = blame(slot, handshake_ec, client_errc::handshake_timeout);
                detail = "TLS handshake with " + opts_.origin.to_string() + ": " + ec.message();
                const long verify = SSL_get_verify_result(ssl);
                if (verify != X509_V_OK) {
                    detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
                }
                co_return ec;
            }
            ++counters_.tls_handshakes;
            resumed = SSL_session_reused(ssl) == 1;
            if (resumed) {
                ++counters_.tls_resumed;
            }
        }
        unwatch(slot);
        log_->debug("msgflash api: connection #{} to {} open in {} ms{}", c.id, opts_.origin.to_string(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count(),
                    c.is_tls() ? (resumed ? " (TLS, session resumed)" : " (TLS)") : "");
        co_return error_code{};
    }

    // ---- one request/answer on an open connection --------------------------------------------------------

    asio::awaitable<exchange_result> exchange(connection& c, const http_request& req, request_slot& slot,
                                              bool idempotent, bool reused, answer& a) {
        exchange_result r;
        r.facts.reused_connection = reused;
        r.facts.idempotent = idempotent;
        r.facts.phase = exchange_phase::write;
        {
            const auto state = co_await asio::this_coro::cancellation_state;
            fold_caller_cancellation(slot, state);
        }
        if (slot.aborted) {
            r.facts.cancelled = true;
            r.facts.ec = asio::error::operation_aborted;
            r.detail = "cancelled before writing";
            co_return r;
        }
        ++c.requests;
        watch(slot, steady::now() + opts_.request_timeout);
        const auto wire = wire_buffers(req, host_header_, {c.wire_head, c.wire_tail});
        if (req.on_write) {
            req.on_write();
        }
        error_code write_ec;
        if (c.is_tls()) {
            auto [ec, n] = co_await asio::async_write(c.tls(), wire, use_nothrow);
            write_ec = ec;
            r.facts.bytes_written = n;
        } else {
            auto [ec, n] = co_await asio::async_write(c.plain(), wire, use_nothrow);
            write_ec = ec;
            r.facts.bytes_written = n;
        }
        if (write_ec || slot.aborted || slot.timed_out) {
            note_error(r, write_ec, slot, c, "writing");
            co_return r;
        }

        r.facts.phase = exchange_phase::read;
        {
            const auto state = co_await asio::this_coro::cancellation_state;
            fold_caller_cancellation(slot, state);
        }
        if (slot.aborted) {
            note_error(r, asio::error::operation_aborted, slot, c, "before reading the answer");
            co_return r;
        }
        // Read and parse until the answer is whole: Beast's parser, fed by plain reads.
        std::optional<response_reader> parser;
        parser.emplace(a, opts_.max_body_bytes);
        error_code read_ec;
        bool eof = false;
        for (;;) {
            if (c.buffer.size() > 0) {
                error_code parse_ec;
                const std::size_t used = parser->put(c.buffer.data(), parse_ec);
                c.buffer.consume(used);
                if (parse_ec && parse_ec != http::error::need_more) {
                    read_ec = parse_ec;
                    break;
                }
                if (parser->is_done()) {
                    const unsigned status = a.status;
                    // 1xx interim answers (e.g. 103 Early Hints) come before the real one.
                    if (status >= 100 && status < 200 && status != 101) {
                        parser.emplace(a, opts_.max_body_bytes);
                        continue;
                    }
                    break;
                }
                if (!parse_ec && used > 0 && c.buffer.size() > 0) {
                    continue;
                }
            }
            if (eof) {
                // The server closed: fine only for an answer delimited by the close.
                if (!r.facts.answer_started) {
                    read_ec = http::error::end_of_stream;
                    break;
                }
                error_code eof_ec;
                parser->put_eof(eof_ec);
                if (eof_ec || !parser->is_done()) {
                    read_ec = eof_ec ? eof_ec : error_code(http::error::partial_message);
                }
                break;
            }
            std::size_t n = 0;
            error_code ec;
            if (c.is_tls()) {
                auto [e, got] =
                    co_await c.tls().async_read_some(c.buffer.prepare(read_chunk_bytes), use_nothrow);
                ec = e;
                n = got;
            } else {
                auto [e, got] =
                    co_await c.plain().async_read_some(c.buffer.prepare(read_chunk_bytes), use_nothrow);
                ec = e;
                n = got;
            }
            c.buffer.commit(n);
            if (n > 0) {
                r.facts.answer_started = true;
            }
            if (slot.aborted || slot.timed_out) {
                read_ec = ec ? ec : error_code(asio::error::operation_aborted);
                break;
            }
            if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
                eof = true;  // parse what came with it first
                continue;
            }
            if (ec) {
                read_ec = ec;
                break;
            }
        }
        if (parser->is_header_done()) {
            r.status = a.status;
        }
        r.facts.header_complete = parser->is_header_done();
        if (read_ec) {
            if (read_ec == http::error::body_limit) {
                r.detail = "connection #" + std::to_string(c.id) + ": body larger than " +
                           std::to_string(opts_.max_body_bytes) + " bytes";
                r.facts.ec = client_errc::body_too_large;
                co_return r;
            }
            note_error(r, read_ec, slot, c, "reading the answer");
            co_return r;
        }
        unwatch(slot);
        if (c.is_tls() && !c.session_saved) {
            save_session(c);
        }
        r.ok = true;
        r.keep_alive = parser->keep_alive() && !parser->need_eof();
        co_return r;
    }

    void note_error(exchange_result& r, error_code ec, const request_slot& slot, connection& c,
                    std::string_view doing) {
        ec = blame(slot, ec, client_errc::request_timeout);
        if (ec == asio::error::operation_aborted) {
            r.facts.cancelled = true;
        } else if (r.facts.phase == exchange_phase::read && r.facts.header_complete &&
                   ec != client_errc::request_timeout && !is_connection_loss(ec) &&
                   ec != http::error::partial_message) {
            // A broken body after a whole header is still an answer we cannot read.
            ec = client_errc::malformed_response;
        }
        r.facts.ec = ec;
        r.detail = "connection #" + std::to_string(c.id) +
                   (r.facts.reused_connection ? " (reused)" : " (new)") + ": " + std::string(doing) + ": " +
                   ec.message();
    }

    // Keeps the connection's TLS session (read after its first answer, when TLS 1.3 tickets have arrived) for
    // the next connection to resume.
    void save_session(connection& c) {
        c.session_saved = true;
        SSL_SESSION* s = SSL_get1_session(c.ssl());
        if (s == nullptr) {
            return;
        }
        // A copy: OpenSSL marks a connection's own session not resumable when that connection is freed
        // without a TLS shutdown — which is how pooled connections end (idle expiry, cancel_all, errors).
        if (SSL_SESSION_is_resumable(s) == 1) {
            if (SSL_SESSION* copy = SSL_SESSION_dup(s)) {
                session_.reset(copy);
            }
        }
        SSL_SESSION_free(s);
    }

    // ---- cancellation
    // --------------------------------------------------------------------------------------

    void cancel_all_now() {
        for (request_slot* s : in_flight_) {
            s->abort();
        }
        while (!waiters_.empty()) {
            waiter* w = waiters_.front();
            waiters_.pop_front();
            w->queued = false;
            w->timer.cancel();
        }
        for (auto& c : idle_) {
            c->close();
        }
        total_ -= idle_.size();
        idle_.clear();
        reap_timer_.cancel();
        // Every request still in flight ends at once: none needs the sweep any more.
        if (sweeping_) {
            stop_sweeping_ = true;
            sweep_timer_.cancel();
        }
    }

    void shutdown_now() {
        shut_down_ = true;
        cancel_all_now();
        session_.reset();
    }

    pool_stats stats() const {
        pool_stats s = counters_;
        s.open = total_;
        s.idle = idle_.size();
        s.waiting = waiters_.size();
        s.in_flight = in_flight_.size();
        return s;
    }

    asio::any_io_executor ex_;
    pool_options opts_;
    std::shared_ptr<spdlog::logger> log_;

  private:
    std::string host_header_;
    std::string port_text_;
    std::chrono::milliseconds sweep_period_;
    std::optional<ssl::context> tls_ctx_;
    std::vector<tcp::endpoint> literal_endpoints_;  // the host is an IP address: no resolution
    std::vector<tcp::endpoint> resolved_;
    steady::time_point resolved_expiry_{};
    std::vector<std::unique_ptr<connection>> idle_;  // oldest first
    std::deque<waiter*> waiters_;
    std::list<request_slot*> in_flight_;
    std::size_t total_ = 0;  // connections counted against max_connections
    asio::steady_timer reap_timer_;
    bool reaping_ = false;
    asio::steady_timer sweep_timer_;
    bool sweeping_ = false;
    bool stop_sweeping_ = false;
    bool shut_down_ = false;
    ssl_session_ptr session_;
    std::uint64_t next_connection_id_ = 1;
    pool_stats counters_;
};

namespace {

// The caller's own cancellation must not turn into exceptions inside the pool (its cleanup relies on every
// step returning), so the coroutine turns throw_if_cancelled off for the request and restores it after.
asio::awaitable<http_exchange> execute_on(std::shared_ptr<http_pool::impl> self, http_request req,
                                          bool idempotent) {
    const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);
    http_exchange out = co_await http_pool::impl::run(std::move(self), std::move(req), idempotent);
    co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
    co_return out;
}

}  // namespace

http_pool::http_pool(asio::any_io_executor executor, pool_options options,
                     std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), std::move(log))) {}

http_pool::~http_pool() {
    if (impl_) {
        impl_->shutdown_now();
    }
}

asio::awaitable<http_exchange> http_pool::execute(http_request request, bool idempotent) {
    return execute_on(impl_, std::move(request), idempotent);
}

void http_pool::cancel_all() {
    asio::dispatch(impl_->ex_, [self = impl_] { self->cancel_all_now(); });
}

void http_pool::shutdown() {
    asio::dispatch(impl_->ex_, [self = impl_] { self->shutdown_now(); });
}

pool_stats http_pool::stats() const {
    return impl_->stats();
}

const pool_options& http_pool::options() const {
    return impl_->opts_;
}

const asio::any_io_executor& http_pool::get_executor() const {
    return impl_->ex_;
}

}  // namespace msgflash::api
