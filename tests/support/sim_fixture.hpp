// An in-process msgflash-sim for tests: a world and its server on an ephemeral loopback port, stopped at
// destruction. Also small helpers to read the simulator's JSON answers.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include <boost/json/value.hpp>

#include "tests/sim/sim_config.hpp"
#include "tests/sim/sim_server.hpp"
#include "tests/sim/sim_world.hpp"
#include "tests/support/http_client.hpp"

namespace msgflash::test {

class sim_instance {
  public:
    // Forces the listener to 127.0.0.1 on an ephemeral port; TLS when config.server.tls_cert/tls_key are set
    // (then `ca_file` is what clients trust).
    explicit sim_instance(sim::sim_config config, std::string ca_file = {});
    ~sim_instance();
    sim_instance(const sim_instance&) = delete;
    sim_instance& operator=(const sim_instance&) = delete;

    std::uint16_t port() const;
    sim::world& world() { return *world_; }
    const sim::sim_config& config() const { return config_; }

    // Options for a client of this sim: port, TLS and the CA, a 10 s timeout.
    test::client_options options() const;
    http_client client() const;

    void stop();

  private:
    sim::sim_config config_;
    std::string ca_file_;
    std::shared_ptr<sim::world> world_;
    std::unique_ptr<sim::server> server_;
};

// The answer's body as JSON; a null value if it does not parse.
boost::json::value parse_json(std::string_view text);
// {"error":{"code":…}} → the code, or "" if the body is not an error envelope.
std::string error_code_of(std::string_view body);

}  // namespace msgflash::test
