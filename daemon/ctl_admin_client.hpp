// msgflashctl's side of the admin endpoint (docs/admin-api.md): finding it (<state dir>/admin.address, else
// admin.listen), its token (<state dir>/admin.token) and one HTTP/1.1 POST over TCP loopback or a unix
// socket, with a deadline. Transport failures come back as text, never as exceptions.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace msgflash::ctl {

// "127.0.0.1:40123", "[::1]:9464" or "unix:/run/msgflashd/admin.sock" (admin.address's one line, trailing
// whitespace ignored); nullopt for anything else.
std::optional<listen_address> parse_admin_address(std::string_view text);

// One path segment, percent-encoded (RFC 3986 unreserved characters kept as they are).
std::string percent_encode(std::string_view segment);

struct admin_endpoint {
    listen_address address{};
    std::string token{};       // empty: none found (fine over a unix socket)
    std::string where{};       // "admin.address" or "admin.listen": for messages
    std::string token_note{};  // why there is no token, when there is none
};

// The endpoint of the daemon configured by `cfg`: the state dir is the directory of queue.path.
admin_endpoint find_admin_endpoint(const config& cfg);

struct admin_answer {
    unsigned status = 0;
    std::string body{};
};

struct admin_call {
    std::optional<admin_answer> answer{};
    std::string error{};  // transport failure: connection refused, timeout, …
};

// POST `target` (already encoded, e.g. "/control/batches/b%201/pause") with an empty body.
admin_call admin_post(const admin_endpoint& endpoint, std::string_view target,
                      std::chrono::milliseconds timeout = std::chrono::seconds{30});

}  // namespace msgflash::ctl
