// The daemon's configuration (SPEC §10) as plain data with its defaults, and the strict TOML reader that
// fills it: every problem is reported as data (source, line, key path, message), all of them at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace msgflash {

// spool.on_invalid_recipient: what a bad recipient inside an otherwise good batch does.
enum class invalid_recipient_policy { skip, reject_file };

// retry.on_ambiguous: what an attempt with no answer (request written, then timeout/reset) does.
enum class ambiguous_policy { retry, hold };

// log.level; the same names as spdlog's levels, kept free of spdlog so the config stays pure.
enum class log_level { trace, debug, info, warn, error, critical, off };

std::string_view to_string(invalid_recipient_policy p) noexcept;
std::string_view to_string(ambiguous_policy p) noexcept;
std::string_view to_string(log_level l) noexcept;

// api.base_url, taken apart: the HTTP layer connects to host:port and prefixes /api/v1 itself.
struct http_origin {
    bool tls = true;                        // https
    std::string host = "srv.msgflash.com";  // a name, an IPv4 literal, or an IPv6 literal without brackets
    std::uint16_t port = 443;

    // "https://srv.msgflash.com", with ":port" only when it is not the scheme's default.
    std::string to_string() const;
    bool operator==(const http_origin&) const = default;
};

// admin.listen: "host:port", "[v6]:port" or "unix:/path".
struct listen_address {
    enum class kind { tcp, unix_socket };
    kind type = kind::tcp;
    std::string host = "127.0.0.1";  // tcp; IPv6 without brackets
    std::uint16_t port = 9464;       // tcp; 0 = any free port (tests)
    std::filesystem::path path;      // unix_socket

    std::string to_string() const;
    bool operator==(const listen_address&) const = default;
};

struct api_config {
    http_origin base_url;
    std::chrono::milliseconds timeout{15'000};         // whole request, written to answered
    std::chrono::milliseconds connect_timeout{5'000};  // TCP + TLS handshake
    std::uint32_t max_connections = 256;
    std::filesystem::path ca_file;  // empty: the system's trust store only
    bool operator==(const api_config&) const = default;
};

struct spool_config {
    std::filesystem::path dir = "/var/spool/msgflashd";
    std::uint64_t max_file_bytes = 268'435'456;  // 256 MiB (SPEC §3)
    invalid_recipient_policy on_invalid_recipient = invalid_recipient_policy::skip;
    std::uint64_t max_line_bytes = 1'048'576;  // one NDJSON line; longer lines are rejected, not buffered
    std::chrono::milliseconds rescan_interval{
        30'000};  // full directory scan, in case an inotify event was lost
    bool operator==(const spool_config&) const = default;
};

struct queue_config {
    std::filesystem::path path = "/var/lib/msgflashd/queue.db";
    bool operator==(const queue_config&) const = default;
};

struct retry_config {
    std::chrono::milliseconds base{2'000};
    double factor = 2.0;
    std::chrono::milliseconds cap{300'000};
    std::uint32_t max_attempts = 10;
    std::chrono::milliseconds max_age{86'400'000};
    ambiguous_policy on_ambiguous = ambiguous_policy::retry;
    bool operator==(const retry_config&) const = default;
};

struct pacing_config {
    std::chrono::milliseconds per_recipient_gap{6'000};
    double housekeeping_share =
        0.2;  // most of a key's budget that polls and reconciliation may take (SPEC §6)
    std::chrono::milliseconds instance_poll_interval{60'000};
    std::chrono::milliseconds health_poll_interval{300'000};
    // The most the time from a send's pacing decision to its arrival at the server may vary (scheduling,
    // connection set-up, network): every key's pacer keeps that much margin per window (core/pacer.hpp), so
    // the rate used is 1 s / (1 s + jitter_bound + 1 ms) of accounts[].rate.
    std::chrono::milliseconds jitter_bound{20};
    bool operator==(const pacing_config&) const = default;
};

struct reconcile_config {
    std::chrono::milliseconds max_age{259'200'000};  // 72h
    bool operator==(const reconcile_config&) const = default;
};

// Batch reports (SPEC §7): reports/<batch>.csv and .summary.json, written by the reporter.
struct reports_config {
    std::chrono::milliseconds interval{5'000};  // how often finished batches are looked for
    // A report that is not final yet is looked at, and rewritten for newer delivery statuses, at most this
    // often (looking reads every sent job of its batch).
    std::chrono::milliseconds min_rewrite_interval{60'000};
    bool operator==(const reports_config&) const = default;
};

struct admin_config {
    listen_address listen;
    bool operator==(const admin_config&) const = default;
};

struct log_config {
    log_level level = log_level::info;
    bool operator==(const log_config&) const = default;
};

// MsgFlash: 10 req/s per key (docs: Rate limiting).
inline constexpr std::uint32_t documented_rate_per_key = 10;

// One API key. The key itself is never here: at most one of key_file / key_env is set; with neither, the
// key is the systemd credential $CREDENTIALS_DIRECTORY/<name>. See api_keys.hpp.
struct account_config {
    std::string name;
    std::filesystem::path key_file;  // empty: not set
    std::string key_env;             // empty: not set
    std::string team_id;             // lower-case UUID; empty for a personal key
    std::uint32_t rate = documented_rate_per_key;
    bool operator==(const account_config&) const = default;
};

// Operator caps for one WhatsApp number; an empty optional is no cap (the warm-up guidance still applies).
struct instance_config {
    std::string id;       // lower-case UUID
    std::string account;  // empty: whichever account sends to it
    std::optional<std::uint32_t> per_minute;
    std::optional<std::uint32_t> per_hour;
    std::optional<std::uint32_t> per_day;
    std::optional<std::chrono::milliseconds> min_interval;
    bool operator==(const instance_config&) const = default;
};

struct config {
    std::chrono::milliseconds shutdown_grace{10'000};
    api_config api;
    spool_config spool;
    queue_config queue;
    retry_config retry;
    pacing_config pacing;
    reconcile_config reconcile;
    reports_config reports;
    admin_config admin;
    log_config log;
    std::vector<account_config> accounts;  // never empty in a parsed config
    std::vector<instance_config> instances;

    const account_config* find_account(std::string_view name) const noexcept;
    const instance_config* find_instance(std::string_view id) const noexcept;
    bool operator==(const config&) const = default;
};

// One problem in a configuration file.
struct config_error {
    std::string source;        // the file name as given to parse_config / load_config
    std::uint32_t line = 0;    // 1-based; 0 when the problem has no single place (e.g. "no accounts")
    std::uint32_t column = 0;  // 1-based; 0 when unknown
    std::string key;           // "retry.base", "accounts[0].rate" (0-based index); empty for syntax errors
    std::string message;

    // msgflashd.toml:14: retry.base: invalid duration "2x" (expected e.g. "250ms", "2s", "5m", "24h")
    std::string to_string() const;
    bool operator==(const config_error&) const = default;
};

// value is set exactly when errors is empty. Warnings are accepted but worth a log line.
struct config_result {
    std::optional<config> value;
    std::vector<config_error> errors;
    std::vector<config_error> warnings;

    bool ok() const noexcept { return value.has_value(); }
};

// Parses and validates a whole configuration. Relative paths (spool.dir, queue.path, api.ca_file,
// accounts[].key_file, admin.listen "unix:…") are resolved against base_dir when it is not empty.
config_result parse_config(std::string_view toml, std::string_view source_name,
                           const std::filesystem::path& base_dir = {});

// Reads the file and parses it; relative paths in it are relative to the file's directory.
config_result load_config(const std::filesystem::path& path);

// The parts of the reader that other inputs (job files, msgflashctl arguments) reuse.
// A UUID in 8-4-4-4-12 hex form, returned lower-case; nullopt otherwise.
std::optional<std::string> normalize_uuid(std::string_view text);
// An account name usable as a file name: 1–64 of [A-Za-z0-9_.-], not starting with '.'.
bool is_valid_account_name(std::string_view name) noexcept;

}  // namespace msgflash
