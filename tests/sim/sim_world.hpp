// The simulated MsgFlash service as a thread-safe state machine with no I/O: a request and the times it
// arrived in, a response out. The network shell (sim_server) only carries out what it returns.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "tests/sim/sim_config.hpp"

namespace msgflash::sim {

using steady_time = std::chrono::steady_clock::time_point;
using wall_time = std::chrono::system_clock::time_point;

struct request {
    std::string_view method;                  // "GET", "POST", …
    std::string_view target;                  // path and query, e.g. "/api/v1/messages?cursor=abc&limit=50"
    std::optional<std::string_view> api_key;  // x-api-key, absent when the header is missing
    std::optional<std::string_view> team_id;  // X-Team-Id, absent when the header is missing
    std::string_view content_type;
    std::string_view body;
    bool from_loopback = true;  // control routes (/_sim/…) answer only loopback peers
};

// What the shell must do with the answer besides writing it.
enum class delivery_mode {
    normal,
    close_without_answer,  // the 'ambiguous' fault: the request was acted on, the connection just closes
    trickle,               // the 'slow' fault: write in slow_chunk_bytes pieces every slow_chunk_interval
};

struct response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::optional<std::string> retry_after;  // the Retry-After header's value, when one is sent
    delivery_mode mode = delivery_mode::normal;
    std::chrono::milliseconds latency{0};  // wait this long before answering
};

class world {
  public:
    explicit world(sim_config config);
    ~world();
    world(const world&) = delete;
    world& operator=(const world&) = delete;

    // `arrival` is when the request is counted (after the arrival jitter); `wall` gives createdAt,
    // billing periods and HTTP-date Retry-After values.
    response handle(const request& req, steady_time arrival, wall_time wall);

    // Network-level draws from the seeded generator.
    bool draw_reset();  // reset the connection instead of handling a request
    std::chrono::milliseconds draw_arrival_jitter();
    fault_config faults() const;  // current knobs (they change at run time)

    void note_connection_opened();
    void note_connection_closed(bool idle);  // idle: closed by the server's idle_timeout
    void note_tls_handshake();

    // The same document GET /_sim/stats returns.
    boost::json::object stats() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace msgflash::sim
