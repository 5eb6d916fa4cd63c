// What one MsgFlash API call produced: the typed answer, or a failure that says how far the request got
// (transport_outcome), what the server said (api_error), and the one verdict SPEC §5 makes of it (verdict()).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include "core/api_errors.hpp"
#include "core/classifier.hpp"

namespace msgflash::api {

// Failures the client itself detects. Errors the network, TLS or HTTP parser report keep their own codes
// (asio::error::connection_refused, ssl errors, beast::http::error::…).
enum class client_errc {
    queue_timeout = 1,   // no pooled connection became free in time (not sent)
    connect_timeout,     // name resolution + TCP connect took longer than api.connect_timeout (not sent)
    handshake_timeout,   // the TLS handshake took too long (not sent)
    request_timeout,     // no whole answer within api.timeout of starting to write (ambiguous)
    not_loopback,        // plain http:// resolved to an address off this machine (not sent)
    body_too_large,      // the answer's body is larger than the limit: reading stopped (unparseable)
    wrong_content_type,  // the answer is not labelled application/json (unparseable)
    not_json,            // the body does not parse as JSON (unparseable)
    unexpected_shape,    // JSON, but not the documented envelope or data shape (unparseable)
    malformed_response,  // not a valid HTTP/1.1 answer (unparseable when its status line was read)
};

const boost::system::error_category& client_category() noexcept;
boost::system::error_code make_error_code(client_errc e) noexcept;

// {"error":{"code","message","details"}} (docs: error-codes.txt, "Format").
struct api_error {
    unsigned http_status = 0;
    std::string code;                                 // as sent; may be one the documentation does not list
    std::string message;                              // empty when absent
    boost::json::value details;                       // as sent; null when absent
    std::optional<std::chrono::seconds> retry_after;  // the Retry-After header (delta-seconds or HTTP-date)

    // The documented code, or api_errc::unknown_code.
    api_errc errc() const;
};

struct api_failure {
    // not_sent / ambiguous: no answer. unparseable: an answer we cannot read (http_status says which).
    // answered: the server answered with an error envelope (`error`).
    transport_outcome outcome = transport_outcome::not_sent;
    unsigned http_status = 0;        // 0 when no status line was read
    std::optional<api_error> error;  // set exactly when outcome == answered
    // What went wrong: an Asio/SSL/Beast code, a client_errc, or the documented API code (api_errc, wrapped).
    // asio::error::operation_aborted after cancel_all() / shutdown() or the caller's own cancellation.
    boost::system::error_code ec;
    std::optional<std::chrono::seconds> retry_after;  // the Retry-After header, whatever the body
    std::string detail;                               // one line for logs and reports; never contains the key
    std::string body_excerpt;  // unparseable answers: the start of the body, printable ASCII, key scrubbed
};

// How the exchange went, for the attempt record (SPEC §4), whatever its result.
struct exchange_info {
    unsigned http_status = 0;
    std::chrono::steady_clock::duration latency{};  // from the call to its result, queueing included
    std::uint64_t connection_id = 0;                // the pool's number for the connection; 0 when none
    bool reused_connection = false;                 // the (last) attempt used a kept-alive connection
    bool replayed = false;  // sent again on a fresh connection after a stale kept-alive one (http_pool.hpp)
};

template <class T>
class api_result {
  public:
    // A placeholder: a not_sent failure with no error code (asio::co_spawn needs results to be default
    // constructible). Never returned by the client.
    api_result() : v_(std::in_place_index<1>) {}
    api_result(T value, exchange_info info) : v_(std::in_place_index<0>, std::move(value)), info_(info) {}
    api_result(api_failure failure, exchange_info info)
        : v_(std::in_place_index<1>, std::move(failure)), info_(info) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    // Preconditions: ok() for value(), !ok() for failure(); std::bad_variant_access otherwise.
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const api_failure& failure() const { return std::get<1>(v_); }

    const exchange_info& exchange() const noexcept { return info_; }
    transport_outcome outcome() const noexcept {
        return ok() ? transport_outcome::answered : failure().outcome;
    }
    unsigned http_status() const noexcept { return info_.http_status; }
    // The error envelope's code; "" on success and when there was none.
    std::string_view api_code() const noexcept {
        if (ok() || !failure().error) {
            return {};
        }
        return failure().error->code;
    }
    // SPEC §5: what this answer means for the job that caused it.
    msgflash::verdict verdict() const { return classify(outcome(), http_status(), api_code()); }

    // The same failure as a result of another type (a paging helper passing a page's failure on).
    template <class U>
    api_result<U> rebind_failure() const {
        return api_result<U>(failure(), info_);
    }

  private:
    std::variant<T, api_failure> v_;
    exchange_info info_;
};

std::string_view to_string(transport_outcome o) noexcept;

}  // namespace msgflash::api

template <>
struct boost::system::is_error_code_enum<msgflash::api::client_errc> : std::true_type {};
