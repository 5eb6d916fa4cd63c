// msgflash-sim's network shell: accepts connections, reads HTTP/1.1 requests, asks the world what to answer
// and carries out the answer's latency and delivery mode. config.threads threads, each running its own
// io_context; one coroutine per connection, on a strand of the context it was dealt to.
//
// The hot path (benchmarked by bench/sim_throughput) allocates nothing per request in the shell itself: the
// request is parsed by a beast::http::basic_parser straight into per-connection strings that keep their
// capacity, the answer's head is serialised into a reused string and written with the world's body in one
// gather write, executors are concrete types (no any_io_executor), and timers are armed only for a
// non-zero latency, jitter or idle timeout.
#include "tests/sim/sim_server.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <openssl/ssl.h>

namespace msgflash::sim {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

using strand_executor = asio::strand<asio::io_context::executor_type>;
using socket_type = asio::basic_stream_socket<tcp, strand_executor>;
using acceptor_type = asio::basic_socket_acceptor<tcp, strand_executor>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                              asio::wait_traits<std::chrono::steady_clock>, strand_executor>;
using tls_stream_type = ssl::stream<socket_type>;
template <class T>
using task = asio::awaitable<T, strand_executor>;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable_t<strand_executor>{});

// GCC 12 miscompiles co_await in some expression positions (seen: an operand of && / ||, which corrupted
// the coroutine frame), so every co_await in this file is a statement or a variable's initializer.

// Requests larger than this get 413: the API's bodies are small JSON documents; the margin is generous.
constexpr std::uint64_t request_body_limit = 1u << 20;
// Each read asks the kernel for up to this much; a request line and headers fit many times over.
constexpr std::size_t read_chunk = 16u << 10;
// After a 413 or 400 the rest of the request is read and dropped for at most this long (or this many bytes)
// before closing, so that the client reads the answer instead of a reset ("lingering close", as nginx does).
constexpr auto lingering_close_time = std::chrono::seconds(2);
constexpr std::size_t lingering_close_bytes = 64u << 20;
// stop() waits this long for connections to finish after closing them before it stops the io_context.
constexpr auto stop_grace = std::chrono::seconds(5);
constexpr std::string_view server_name = "msgflash-sim";

bool is_loopback(const asio::ip::address& a) {
    if (a.is_loopback()) {
        return true;
    }
    return a.is_v6() && a.to_v6().is_v4_mapped() &&
           asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
}

void append_number(std::string& out, std::uint64_t n) {
    std::array<char, 24> digits{};
    auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n);
    (void)ec;
    out.append(digits.data(), end);
}

std::string_view reason_phrase(unsigned status) {
    std::string_view r = http::obsolete_reason(static_cast<http::status>(status));
    if (r.empty() || r.front() == '<') {
        return "Status";
    }
    return r;
}

// The status line and headers of an answer (the body goes out as a second buffer). `out` keeps its
// capacity between requests.
void serialize_head(std::string& out, const response& r, bool keep_alive, bool http10) {
    out.clear();
    out.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    append_number(out, r.status);
    out.push_back(' ');
    out.append(reason_phrase(r.status));
    out.append("\r\nServer: ");
    out.append(server_name);
    out.append("\r\nContent-Type: ");
    out.append(r.content_type);
    out.append("\r\nContent-Length: ");
    append_number(out, r.body.size());
    if (r.retry_after) {
        out.append("\r\nRetry-After: ");
        out.append(*r.retry_after);
    }
    if (!keep_alive) {
        out.append("\r\nConnection: close");
    } else if (http10) {
        out.append("\r\nConnection: keep-alive");
    }
    out.append("\r\n\r\n");
}

response error_answer(unsigned status, std::string_view code, std::string_view message) {
    response r;
    r.status = status;
    r.body.reserve(64 + code.size() + message.size());
    r.body.append(R"({"error":{"code":")")
        .append(code)
        .append(R"(","message":")")
        .append(message)
        .append("\"}}");
    return r;
}

// What the world needs from a request, in strings owned by the connection so their capacity is reused.
struct request_data {
    std::string method;
    std::string target;
    std::string api_key;
    std::string team_id;
    std::string content_type;
    std::string body;
    bool has_api_key = false;
    bool has_team_id = false;
    bool expect_continue = false;  // "Expect: 100-continue" (curl sends it with bodies over 1 KiB)
    int version = 11;

    void clear() {
        method.clear();
        target.clear();
        api_key.clear();
        team_id.clear();
        content_type.clear();
        body.clear();
        has_api_key = false;
        has_team_id = false;
        expect_continue = false;
        version = 11;
    }
};

// A request parser that keeps only what request_data holds (no header map, no allocation once the
// strings have grown). One per request: Beast's parsers cannot be reset.
class request_parser final : public http::basic_parser<true> {
  public:
    explicit request_parser(request_data& data) : data_(data) {
        data_.clear();
        body_limit(request_body_limit);
        eager(true);
    }

  private:
    void on_request_impl(http::verb, beast::string_view method, beast::string_view target, int version,
                         error_code&) override {
        data_.method.assign(method.data(), method.size());
        data_.target.assign(target.data(), target.size());
        data_.version = version;
    }
    void on_response_impl(int, beast::string_view, int, error_code&) override {}
    void on_field_impl(http::field f, beast::string_view name, beast::string_view value,
                       error_code&) override {
        if (f == http::field::content_type) {
            data_.content_type.assign(value.data(), value.size());
        } else if (f == http::field::expect) {
            data_.expect_continue = beast::iequals(value, "100-continue");
        } else if (f == http::field::unknown) {
            if (beast::iequals(name, "x-api-key")) {
                data_.api_key.assign(value.data(), value.size());
                data_.has_api_key = true;
            } else if (beast::iequals(name, "x-team-id")) {
                data_.team_id.assign(value.data(), value.size());
                data_.has_team_id = true;
            }
        }
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (length) {
            data_.body.reserve(static_cast<std::size_t>(*length));
        }
    }
    std::size_t on_body_impl(beast::string_view s, error_code&) override {
        data_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code&) override {
        data_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_finish_impl(error_code&) override {}

    request_data& data_;
};

// A live connection as stop() sees it: something to abort on its own strand.
class connection_base {
  public:
    explicit connection_base(strand_executor strand) : strand_(std::move(strand)) {}
    virtual ~connection_base() = default;
    connection_base(const connection_base&) = delete;
    connection_base& operator=(const connection_base&) = delete;

    const strand_executor& strand() const { return strand_; }
    virtual void abort() = 0;  // on the strand: cancel the timer, close the socket

    std::list<std::shared_ptr<connection_base>>::iterator registry_pos;

  private:
    strand_executor strand_;
};

// What the accept loop and the connections share with server::impl.
struct server_state {
    std::shared_ptr<world> world_;
    std::optional<ssl::context> ssl_ctx;
    std::chrono::milliseconds idle_timeout{0};  // server_config::idle_timeout

    std::mutex mutex;
    std::condition_variable idle;
    bool stopping = false;
    std::size_t live = 0;  // the accept loop and every connection coroutine
    std::list<std::shared_ptr<connection_base>> connections;

    // Counts a coroutine in; false once stop() has begun.
    bool enter() {
        std::lock_guard lock(mutex);
        if (stopping) {
            return false;
        }
        ++live;
        return true;
    }
    void leave() {
        std::lock_guard lock(mutex);
        if (--live == 0) {
            idle.notify_all();
        }
    }
    bool add(const std::shared_ptr<connection_base>& c) {
        std::lock_guard lock(mutex);
        if (stopping) {
            return false;
        }
        ++live;
        connections.push_front(c);
        c->registry_pos = connections.begin();
        return true;
    }
    void remove(connection_base& c) {
        std::lock_guard lock(mutex);
        connections.erase(c.registry_pos);
        if (--live == 0) {
            idle.notify_all();
        }
    }
};

socket_type& lowest_socket(socket_type& s) {
    return s;
}
socket_type& lowest_socket(tls_stream_type& s) {
    return s.next_layer();
}

// The TLS handshake, or nothing for plain TCP (an overload each keeps co_await out of `if constexpr`).
task<bool> handshake(socket_type&) {
    co_return true;
}
task<bool> handshake(tls_stream_type& stream) {
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
    co_return !ec;
}

template <class Stream>
class session final : public connection_base {
  public:
    static constexpr bool is_tls = std::is_same_v<Stream, tls_stream_type>;

    session(server_state& state, Stream stream, bool from_loopback)
        : connection_base(lowest_socket(stream).get_executor()),
          state_(state),
          world_(*state.world_),
          stream_(std::move(stream)),
          timer_(strand()),
          from_loopback_(from_loopback) {}

    static task<void> run(std::shared_ptr<session> self) {
        try {
            co_await self->serve();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "msgflash-sim: connection error: %s\n", e.what());
        }
        self->close_socket();
        self->world_.note_connection_closed(self->idle_closed_);
        self->state_.remove(*self);
    }

    void abort() override {
        stopping_ = true;
        timer_.cancel();
        close_socket();
    }

  private:
    socket_type& socket() { return lowest_socket(stream_); }

    void close_socket() {
        error_code ignored;
        socket().close(ignored);
    }

    // Waits on the connection's timer; false when the connection is being stopped.
    task<bool> wait(std::chrono::steady_clock::duration d) {
        timer_.expires_after(d);
        co_await timer_.async_wait(use_nothrow);
        co_return !stopping_;
    }

    task<void> serve() {
        if (is_tls) {
            const bool handshaken = co_await handshake(stream_);
            if (!handshaken || stopping_) {
                co_return;
            }
            world_.note_tls_handshake();
        }
        for (;;) {
            if (stopping_) {
                co_return;
            }
            const bool arrived = co_await await_request();
            if (!arrived) {
                co_return;
            }

            // Read one request: parse what the buffer holds, read more while the parser needs it.
            parser_.emplace(data_);
            error_code read_ec;
            bool continue_sent = false;
            for (;;) {
                if (buffer_.size() > 0) {
                    const std::size_t used = parser_->put(buffer_.data(), read_ec);
                    buffer_.consume(used);
                    if (read_ec == http::error::need_more) {
                        read_ec = {};
                    } else if (read_ec || parser_->is_done()) {
                        break;
                    } else if (used > 0) {
                        continue;
                    }
                }
                if (data_.expect_continue && !continue_sent && parser_->is_header_done()) {
                    continue_sent = true;
                    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
                    auto [ec, n] =
                        co_await asio::async_write(stream_, asio::buffer(continue_line), use_nothrow);
                    (void)n;
                    if (ec) {
                        read_ec = ec;
                        break;
                    }
                }
                auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_nothrow);
                if (ec) {
                    read_ec = ec;
                    break;
                }
                buffer_.commit(n);
            }
            if (read_ec) {
                co_await on_read_error(read_ec);
                co_return;
            }
            const bool keep_alive = parser_->keep_alive();
            parser_.reset();

            // Control routes are out of band: no reset and no modelled network jitter for them.
            // The request arrives when it has been read plus the modelled jitter, stamped so: after the
            // jitter's timer the clock would also hold how late this process woke up, noise of the machine
            // running the simulator (2 cores shared with the client under test) rather than of the modelled
            // network.
            auto arrival = std::chrono::steady_clock::now();
            if (!std::string_view(data_.target).starts_with("/_sim/")) {
                if (world_.draw_reset()) {
                    reset();
                    co_return;
                }
                const auto jitter = world_.draw_arrival_jitter();
                arrival += jitter;
                if (jitter.count() > 0) {
                    const bool waited = co_await wait(jitter);
                    if (!waited) {
                        co_return;
                    }
                }
            }

            request req;
            req.method = data_.method;
            req.target = data_.target;
            if (data_.has_api_key) {
                req.api_key = data_.api_key;
            }
            if (data_.has_team_id) {
                req.team_id = data_.team_id;
            }
            req.content_type = data_.content_type;
            req.body = data_.body;
            req.from_loopback = from_loopback_;

            response resp;
            try {
                resp = world_.handle(req, arrival, std::chrono::system_clock::now());
            } catch (const std::exception& e) {
                resp = error_answer(500, "INTERNAL_ERROR", "Simulator error");
                std::fprintf(stderr, "msgflash-sim: world::handle threw: %s\n", e.what());
            }
            const bool http10 = data_.version == 10;

            if (resp.latency.count() > 0) {
                const bool waited = co_await wait(resp.latency);
                if (!waited) {
                    co_return;
                }
            }

            if (resp.mode == delivery_mode::close_without_answer) {
                error_code ignored;
                socket().shutdown(tcp::socket::shutdown_both, ignored);
                co_return;
            }
            if (resp.mode == delivery_mode::trickle) {
                const bool written = co_await trickle(resp, keep_alive, http10);
                if (!written) {
                    co_return;
                }
            } else {
                serialize_head(head_, resp, keep_alive, http10);
                const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(resp.body)};
                auto [ec, n] = co_await asio::async_write(stream_, buffers, use_nothrow);
                (void)n;
                if (ec) {
                    co_return;
                }
            }
            if (!keep_alive) {
                error_code ignored;
                socket().shutdown(tcp::socket::shutdown_send, ignored);
                co_return;
            }
        }
    }

    task<void> on_read_error(error_code ec) {
        if (ec == http::error::body_limit) {
            co_await answer_and_linger(error_answer(413, "PAYLOAD_TOO_LARGE", "Request body too large"));
        } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                   ec != http::error::partial_message) {
            co_await answer_and_linger(error_answer(400, "BAD_REQUEST", "Malformed HTTP request"));
        }
        // Anything else (EOF between requests, reset, TLS truncation, stop()) just ends the connection.
    }

    // The 'reset' fault, drawn once a request has arrived: close with SO_LINGER {1, 0} so that the kernel
    // answers with RST instead of the request being handled.
    void reset() {
        error_code ignored;
        socket().set_option(asio::socket_base::linger(true, 0), ignored);
        socket().close(ignored);
    }

    // Until the next request's first bytes are in the buffer. False when the connection ends first: the
    // client closed it, stop(), or it stayed idle past idle_timeout (then the server closes it, as servers
    // close idle keep-alive connections). Without an idle timeout the read loop waits as it always did.
    task<bool> await_request() {
        if (buffer_.size() > 0 || state_.idle_timeout.count() == 0) {
            co_return true;
        }
        timer_.expires_after(state_.idle_timeout);
        auto first = co_await (read_some() || timer_.async_wait(use_nothrow));
        if (stopping_) {
            co_return false;
        }
        if (first.index() == 1) {
            idle_closed_ = true;
            co_return false;
        }
        co_return !std::get<0>(first);
    }

    task<error_code> read_some() {
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_nothrow);
        buffer_.commit(n);
        co_return ec;
    }

    // The 'slow' fault: the whole answer, slow_chunk_bytes at a time every slow_chunk_interval.
    task<bool> trickle(const response& resp, bool keep_alive, bool http10) {
        const fault_config f = world_.faults();
        serialize_head(head_, resp, keep_alive, http10);
        const std::string whole = head_ + resp.body;
        const std::size_t chunk = f.slow_chunk_bytes > 0 ? f.slow_chunk_bytes : 1;
        std::size_t pos = 0;
        while (pos < whole.size()) {
            const std::size_t n = std::min(chunk, whole.size() - pos);
            auto [ec, written] =
                co_await asio::async_write(stream_, asio::buffer(whole.data() + pos, n), use_nothrow);
            if (ec) {
                co_return false;
            }
            pos += written;
            if (pos < whole.size() && f.slow_chunk_interval.count() > 0) {
                const bool waited = co_await wait(f.slow_chunk_interval);
                if (!waited) {
                    co_return false;
                }
            }
        }
        co_return true;
    }

    // Answers a request that could not be read whole, then drops what the client still sends (bounded) so
    // it gets to read the answer before the connection closes.
    task<void> answer_and_linger(response resp) {
        serialize_head(head_, resp, false, false);
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(resp.body)};
        auto [ec, n] = co_await asio::async_write(stream_, buffers, use_nothrow);
        (void)n;
        if (ec || stopping_) {
            co_return;
        }
        error_code ignored;
        socket().shutdown(tcp::socket::shutdown_send, ignored);
        timer_.expires_after(lingering_close_time);
        co_await (drain() || timer_.async_wait(use_nothrow));
    }

    task<void> drain() {
        std::array<char, 16384> scratch{};
        std::size_t total = 0;
        while (total < lingering_close_bytes && !stopping_) {
            auto [ec, n] = co_await socket().async_read_some(asio::buffer(scratch), use_nothrow);
            if (ec) {
                co_return;
            }
            total += n;
        }
    }

    server_state& state_;
    world& world_;
    Stream stream_;
    timer_type timer_;
    beast::flat_buffer buffer_;
    request_data data_;
    std::optional<request_parser> parser_;
    std::string head_;
    bool from_loopback_;
    bool stopping_ = false;
    bool idle_closed_ = false;
};

tcp::endpoint resolve_listen_endpoint(asio::io_context& ioc, const server_config& config) {
    error_code ec;
    auto address = asio::ip::make_address(config.host, ec);
    if (!ec) {
        return {address, config.port};
    }
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(config.host, std::to_string(config.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
        throw std::runtime_error("msgflash-sim: cannot resolve listen host '" + config.host +
                                 "': " + (ec ? ec.message() : std::string("no address")));
    }
    return results.begin()->endpoint();
}

ssl::context make_tls_context(const server_config& config) {
    ssl::context ctx(ssl::context::tls_server);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    error_code ec;
    ctx.use_certificate_chain_file(config.tls_cert, ec);
    if (ec) {
        throw std::runtime_error("msgflash-sim: cannot load TLS certificate '" + config.tls_cert +
                                 "': " + ec.message());
    }
    ctx.use_private_key_file(config.tls_key, ssl::context::pem, ec);
    if (ec) {
        throw std::runtime_error("msgflash-sim: cannot load TLS key '" + config.tls_key +
                                 "': " + ec.message());
    }
    // Session IDs and tickets stay on (OpenSSL's defaults) so that clients can resume; a context id makes
    // resumption by session ID valid for this server.
    static constexpr unsigned char session_context[] = "msgflash-sim";
    SSL_CTX_set_session_id_context(ctx.native_handle(), session_context, sizeof(session_context) - 1);
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_SERVER);
    return ctx;
}

}  // namespace

// One io_context per server thread, each run by that thread alone ("an io_context per core"), rather than
// one io_context shared by all threads: connections are dealt round-robin to the contexts, and a connection's
// strand then never competes with another thread for its scheduler. Measured on the 2-core CI machine with a
// bare Asio keep-alive responder under wrk: 14.7 us of server CPU per request with one shared context and
// strands, 10.5-12 us with a context per thread (strands or not).
namespace {

std::vector<std::unique_ptr<asio::io_context>> make_contexts(unsigned threads) {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    const unsigned n = std::max(threads, 1u);
    contexts.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        contexts.push_back(std::make_unique<asio::io_context>(1));  // hint: run by one thread
    }
    return contexts;
}

}  // namespace

struct server::impl {
    impl(std::shared_ptr<world> w, const server_config& config)
        : config_(config),
          contexts_(make_contexts(config.threads)),
          acceptor_(asio::make_strand(*contexts_.front())) {
        if (!w) {
            throw std::invalid_argument("msgflash-sim: server needs a world");
        }
        state_.world_ = std::move(w);
        state_.idle_timeout = config.idle_timeout;
        if (!config.tls_cert.empty() || !config.tls_key.empty()) {
            if (config.tls_cert.empty() || config.tls_key.empty()) {
                throw std::runtime_error("msgflash-sim: TLS needs both a certificate and a key");
            }
            state_.ssl_ctx.emplace(make_tls_context(config));
        }
        const tcp::endpoint endpoint = resolve_listen_endpoint(*contexts_.front(), config);
        error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) {
            acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        }
        if (!ec) {
            acceptor_.bind(endpoint, ec);
        }
        if (!ec) {
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        }
        if (ec) {
            throw std::runtime_error("msgflash-sim: cannot listen on " + config.host + ":" +
                                     std::to_string(config.port) + ": " + ec.message());
        }
        port_ = acceptor_.local_endpoint().port();
    }

    task<void> accept_loop() {
        try {
            co_await accept_connections();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "msgflash-sim: accept loop: %s\n", e.what());
        }
        error_code ignored;
        acceptor_.close(ignored);
        state_.leave();
    }

    task<void> accept_connections() {
        for (;;) {
            auto& context = *contexts_[next_context_++ % contexts_.size()];
            auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(context), use_nothrow);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
                    break;
                }
                // EMFILE and friends: back off briefly instead of spinning.
                timer_type pause(acceptor_.get_executor(), std::chrono::milliseconds(50));
                co_await pause.async_wait(use_nothrow);
                if (!acceptor_.is_open()) {
                    break;
                }
                continue;
            }
            error_code opt_ec;
            socket.set_option(tcp::no_delay(true), opt_ec);
            const auto peer = socket.remote_endpoint(opt_ec);
            const bool loopback = !opt_ec && is_loopback(peer.address());
            state_.world_->note_connection_opened();
            if (state_.ssl_ctx) {
                spawn(std::make_shared<session<tls_stream_type>>(
                    state_, tls_stream_type(std::move(socket), *state_.ssl_ctx), loopback));
            } else {
                spawn(std::make_shared<session<socket_type>>(state_, std::move(socket), loopback));
            }
        }
    }

    template <class Session>
    void spawn(std::shared_ptr<Session> s) {
        if (!state_.add(s)) {
            s->abort();
            state_.world_->note_connection_closed(false);
            return;
        }
        const strand_executor strand = s->strand();
        asio::co_spawn(strand, Session::run(std::move(s)), asio::detached);
    }

    void start() {
        std::lock_guard lock(lifecycle_);
        if (started_ || stopped_) {
            return;
        }
        started_ = true;
        if (!state_.enter()) {
            return;
        }
        asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
        threads_.reserve(contexts_.size());
        work_.reserve(contexts_.size());
        for (auto& context : contexts_) {
            // A context with no connection yet must not run out of work.
            work_.push_back(asio::make_work_guard(*context));
            threads_.emplace_back([&context = *context] {
                try {
                    context.run();
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "msgflash-sim: server thread: %s\n", e.what());
                }
            });
        }
    }

    // Closes the listener and every connection on their strands, waits for their coroutines to end, then
    // joins the threads. Must not be called from a server thread.
    void stop() {
        std::lock_guard lock(lifecycle_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        std::vector<std::shared_ptr<connection_base>> live;
        {
            std::lock_guard state_lock(state_.mutex);
            state_.stopping = true;
            live.assign(state_.connections.begin(), state_.connections.end());
        }
        if (threads_.empty()) {
            error_code ignored;
            acceptor_.close(ignored);
            return;
        }
        asio::post(acceptor_.get_executor(), [this] {
            error_code ignored;
            acceptor_.cancel(ignored);
            acceptor_.close(ignored);
        });
        for (auto& c : live) {
            asio::post(c->strand(), [c] { c->abort(); });
        }
        live.clear();
        {
            std::unique_lock state_lock(state_.mutex);
            if (!state_.idle.wait_for(state_lock, stop_grace, [this] { return state_.live == 0; })) {
                std::fprintf(stderr, "msgflash-sim: %zu coroutines still running after stop; forcing\n",
                             state_.live);
                for (auto& context : contexts_) {
                    context->stop();
                }
            }
        }
        work_.clear();  // every context runs out of work now, and its thread returns
        for (auto& t : threads_) {
            t.join();
        }
        threads_.clear();
    }

    server_config config_;
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    server_state state_;
    acceptor_type acceptor_;
    std::size_t next_context_ = 0;  // the accept loop's round-robin (on the acceptor's strand only)
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::uint16_t port_ = 0;
    std::mutex lifecycle_;
    bool started_ = false;
    bool stopped_ = false;
    std::vector<std::thread> threads_;
};

server::server(std::shared_ptr<world> w, const server_config& config)
    : impl_(std::make_unique<impl>(std::move(w), config)) {}

server::~server() {
    try {
        stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "msgflash-sim: stopping the server: %s\n", e.what());
    }
}

std::uint16_t server::port() const {
    return impl_->port_;
}

bool server::tls() const {
    return impl_->state_.ssl_ctx.has_value();
}

void server::start() {
    impl_->start();
}

void server::stop() {
    impl_->stop();
}

}  // namespace msgflash::sim
