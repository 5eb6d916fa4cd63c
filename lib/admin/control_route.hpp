// The admin endpoint's routes (docs/admin-api.md): which call a request is, from its method and target.
// Pure, so that every route and every malformed path is tested without a socket.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace msgflash::admin {

enum class route_kind {
    healthz,
    readyz,
    metrics,
    batch_pause,
    batch_resume,
    batch_cancel,
    batch_retry,
    retry_dead,
    account_resume,
    instance_resume,
    reconcile,
    campaign_pause,
    campaign_resume,
};

struct route {
    route_kind kind = route_kind::healthz;
    std::string subject{};  // the batch, account, number or campaign (percent-decoded); reconcile's ?batch=
    bool control() const noexcept {
        return kind != route_kind::healthz && kind != route_kind::readyz && kind != route_kind::metrics;
    }
};

struct route_error {
    unsigned status = 404;  // 404 unknown path, 405 wrong method, 400 malformed
    std::string message{};
};

struct route_result {
    std::optional<route> ok{};
    route_error error{};
};

route_result parse_route(std::string_view method, std::string_view target);

// Percent-decoding of one path segment or query value; nullopt when malformed (a bad escape, a NUL).
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace msgflash::admin
