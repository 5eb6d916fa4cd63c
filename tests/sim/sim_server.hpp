// msgflash-sim's network shell: a Boost.Beast HTTP/1.1 server (keep-alive, optional TLS) that feeds
// requests to a sim::world and carries out its answers, latencies and faults.
#pragma once

#include <cstdint>
#include <memory>

#include "tests/sim/sim_world.hpp"

namespace msgflash::sim {

class server {
public:
    // Binds and listens at once (port 0: an ephemeral port, see port()); throws on failure.
    server(std::shared_ptr<world> w, const server_config& config);
    ~server();  // stop()s
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    std::uint16_t port() const;
    bool tls() const;

    void start();  // runs config.threads threads
    void stop();   // closes the listener and every connection, joins the threads; idempotent

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace msgflash::sim
