#include "api/api_result.hpp"

#include <string>

namespace msgflash::api {
namespace {

// boost::system::error_category's destructor is protected and non-virtual by design (categories are never
// deleted through a base pointer); GCC's -Wnon-virtual-dtor cannot tell.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class client_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "msgflash-api-client"; }

    std::string message(int ev) const override {
        switch (static_cast<client_errc>(ev)) {
            case client_errc::queue_timeout:
                return "no connection became free in time";
            case client_errc::connect_timeout:
                return "connect timed out";
            case client_errc::handshake_timeout:
                return "TLS handshake timed out";
            case client_errc::request_timeout:
                return "no answer within the request timeout";
            case client_errc::not_loopback:
                return "plain http:// is only allowed to loopback addresses";
            case client_errc::body_too_large:
                return "answer body too large";
            case client_errc::wrong_content_type:
                return "answer is not application/json";
            case client_errc::not_json:
                return "answer body is not JSON";
            case client_errc::unexpected_shape:
                return "answer is not the documented shape";
            case client_errc::malformed_response:
                return "malformed HTTP answer";
        }
        return "unknown msgflash-api-client error";
    }

    boost::system::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<client_errc>(ev)) {
            case client_errc::queue_timeout:
            case client_errc::connect_timeout:
            case client_errc::handshake_timeout:
            case client_errc::request_timeout:
                return boost::system::errc::timed_out;
            default:
                return {ev, *this};
        }
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& client_category() noexcept {
    static const client_category_impl category;
    return category;
}

boost::system::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

api_errc api_error::errc() const {
    const auto row = find_api_error(code);
    return row ? row->errc : api_errc::unknown_code;
}

std::string_view to_string(transport_outcome o) noexcept {
    switch (o) {
        case transport_outcome::answered:
            return "answered";
        case transport_outcome::not_sent:
            return "not_sent";
        case transport_outcome::ambiguous:
            return "ambiguous";
        case transport_outcome::unparseable:
            return "unparseable";
    }
    return "unknown";
}

}  // namespace msgflash::api
