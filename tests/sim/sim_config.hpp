// msgflash-sim's world description: accounts, instances, templates, rate limits and fault knobs.
// Read from TOML (docs/simulator.md lists every key); the same names are used by the control API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace msgflash::sim {

using std::chrono::milliseconds;

struct account_config {
    std::string name;     // the operator's label; never sent on the wire
    std::string key;      // msgf_live_… (personal) or msgf_team_… (team); the prefix decides
    std::string team_id;  // required for team keys, must be empty for personal keys
    std::uint64_t monthly_quota = 1'000'000;  // monthlyApiRequestQuota
    std::uint64_t quota_used = 0;             // requests already used this billing period
    unsigned rate = 10;                       // MsgFlash: 10 req/s per key (docs: Rate limiting)
    std::string plan = "pro";
    bool business = true;             // WhatsApp Business: buttons allowed
    bool campaigns = true;            // plan includes campaigns
    bool subscription_active = true;  // false: sends get 403 SUBSCRIPTION_INACTIVE
    bool revoked = false;             // true: 401 UNAUTHORIZED
};

struct instance_config {
    std::string id;       // UUID
    std::string account;  // owning account's name
    std::string name;
    std::string wa_number;
    std::string status = "connected";  // disconnected | connecting | connected
    // The /health document's data (SPEC §11). Keys left out get defaults; usageWindowSummary is computed
    // from accepted sends unless given here.
    boost::json::object health;
};

struct template_config {
    std::string id;  // UUID
    std::string account;
    std::string name;
    std::string body;   // {{var}} placeholders; {{contact.*}} need a contact context, {{instance.*}} resolve
    bool valid = true;  // false: sends and previews get TEMPLATE_INVALID
};

struct limit_config {
    bool enabled = true;                  // false: no 10 req/s limiter (throughput benchmarks)
    milliseconds window{1000};            // sliding window over arrival times (SPEC §11)
    std::string retry_after = "seconds";  // seconds | date | none: Retry-After on 429 rate limits
    bool count_rejected = true;           // 429-rejected requests still count in the window
};

// Probabilities are per eligible request, each in [0, 1], their sum at most 1.
struct fault_config {
    std::uint64_t seed = 1;
    double provider_timeout = 0;      // 502 PROVIDER_TIMEOUT
    double provider_unavailable = 0;  // 502 PROVIDER_UNAVAILABLE
    double provider_error = 0;        // 502 PROVIDER_ERROR
    double internal_error = 0;        // 500 INTERNAL_ERROR
    double service_unavailable = 0;   // 503 with an error envelope
    double ambiguous = 0;             // the request is processed (a send is accepted), then the connection
                                      // closes with no answer
    double slow = 0;                  // the answer is trickled out in small chunks
    double garbage = 0;               // processed, answered 200 with a body that is not JSON
    double wrong_content_type = 0;    // processed, answered with a JSON body labelled text/html
    double huge_body = 0;             // processed, answered with a valid but huge JSON body
    double reset = 0;                 // per request read: the connection is reset before the request is read
    bool on_reads = false;            // faults also hit GET routes (default: only POST routes)
    milliseconds latency_min{0};      // answer latency, uniform in [min, max], after the request is counted
    milliseconds latency_max{0};
    milliseconds jitter_min{0};  // arrival jitter, uniform in [min, max], before the request is counted
    milliseconds jitter_max{0};
    milliseconds slow_chunk_interval{200};
    std::size_t slow_chunk_bytes = 16;
    std::size_t huge_body_bytes = 32u << 20;
};

struct delivery_config {
    milliseconds step{1000};  // queued → sent → delivered → read, one step each
    double failed_share = 0;  // share of messages that end "failed" instead of delivered/read
};

struct server_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: an ephemeral port
    unsigned threads = 2;
    std::string tls_cert;  // PEM files; both empty: plain HTTP
    std::string tls_key;
    // A connection waiting this long for its next request is closed, as servers close idle keep-alive
    // connections (Node.js: 5 s). 0: never.
    milliseconds idle_timeout{0};
};

struct sim_config {
    server_config server;
    limit_config limits;
    fault_config faults;
    delivery_config delivery;
    std::vector<account_config> accounts;
    std::vector<instance_config> instances;
    std::vector<template_config> templates;
};

// Throws std::runtime_error naming the source, the key and its line for anything invalid.
sim_config parse_sim_config(std::string_view toml_text, std::string_view source_name);
sim_config load_sim_config(const std::filesystem::path& path);

// The built-in world (`msgflash-sim` with no --config): two personal accounts and one team account,
// instances in every status, a few templates. docs/simulator.md prints it.
sim_config default_sim_config();

// 8-4-4-4-12 hexadecimal, as the API writes ids; shared by the config reader and the world.
bool is_uuid(std::string_view s);

}  // namespace msgflash::sim
