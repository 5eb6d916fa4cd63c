// A stand-in sim::world that answers every request with the same canned instance list, for the
// sim_throughput baseline: linked with the real sim_server and sim_main it measures the network shell alone,
// so the gap to msgflash-sim is the cost of the real world's handle().
#include <atomic>
#include <string>

#include <boost/json/object.hpp>

#include "tests/sim/sim_world.hpp"

namespace msgflash::sim {

namespace {

// Shaped like the docs' GET /api/v1/instances answer for one instance (docs: instances.txt).
constexpr std::string_view canned_body =
    R"({"data":[{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"boutique-principale",)"
    R"("waNumber":"+33612345678","status":"connected","webhook":null,"meta":null,"deletedAt":null,)"
    R"("createdAt":"2026-04-01T09:00:00.000Z","updatedAt":"2026-04-01T09:10:00.000Z"}]})";

}  // namespace

struct world::impl {
    fault_config faults;
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> handshakes{0};
};

// NOLINTNEXTLINE(performance-unnecessary-value-param): the signature is sim::world's.
world::world(sim_config config) : impl_(std::make_unique<impl>()) {
    impl_->faults = config.faults;
}
world::~world() = default;

response world::handle(const request&, steady_time, wall_time) {
    impl_->requests.fetch_add(1, std::memory_order_relaxed);
    response r;
    r.body = canned_body;
    return r;
}

bool world::draw_reset() {
    return false;
}
std::chrono::milliseconds world::draw_arrival_jitter() {
    return std::chrono::milliseconds(0);
}
fault_config world::faults() const {
    return impl_->faults;
}
void world::note_connection_opened() {
    impl_->connections.fetch_add(1, std::memory_order_relaxed);
}
void world::note_connection_closed(bool) {}
void world::note_tls_handshake() {
    impl_->handshakes.fetch_add(1, std::memory_order_relaxed);
}

boost::json::object world::stats() const {
    return {{"requests", impl_->requests.load()},
            {"connections", impl_->connections.load()},
            {"tlsHandshakes", impl_->handshakes.load()}};
}

}  // namespace msgflash::sim
