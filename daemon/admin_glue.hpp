// What msgflashd's admin endpoint serves (lib/admin): the metrics gathered from the engine, the store and the
// spool, and the control calls of docs/admin-api.md carried out through the store's writer and the engine.
// Lives on the engine's io_context thread, except the ingest counters, which the spool thread adds to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "admin/admin_server.hpp"
#include "config/config.hpp"
#include "engine/dispatch_engine.hpp"
#include "spool/spool_ingester.hpp"
#include "store/queue_reader.hpp"
#include "store/queue_store.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::daemon {

// Files and recipients the spool took or refused (the spool thread adds, /metrics reads).
struct ingest_counters {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> recipients{0};  // newly queued
    std::atomic<std::uint64_t> skipped{0};     // bad recipients or lines left out
    std::atomic<std::uint64_t> duplicates{0};

    void add(const spool::file_report& r);
};

class daemon_admin {
  public:
    daemon_admin(const config& cfg, store::queue_store& store, engine::dispatch_engine& engine,
                 const ingest_counters& ingested, std::shared_ptr<spdlog::logger> log);

    admin::admin_handlers handlers();
    void set_ready() { ready_ = true; }
    // A SIGHUP's outcome (msgflash_config_reloads_total).
    void note_reload(bool ok) { ++(ok ? reloads_ok_ : reloads_refused_); }

    std::string metrics();
    boost::asio::awaitable<admin::admin_reply> control(admin::route r);

  private:
    store::queue_reader* reader();

    const config& config_;
    store::queue_store& store_;
    engine::dispatch_engine& engine_;
    const ingest_counters& ingested_;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<store::queue_reader> reader_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    bool ready_ = false;
    std::uint64_t reloads_ok_ = 0;
    std::uint64_t reloads_refused_ = 0;
};

// The admin token (docs/admin-api.md): <state dir>/admin.token, created with 32 random bytes in hex and mode
// 0640 when missing, kept across restarts. Empty with `error` set when it can be neither read nor made.
std::string load_or_create_admin_token(const std::filesystem::path& state_dir, std::string& error);
// Writes <state dir>/admin.address (temp file, rename): where msgflashctl finds the endpoint.
bool write_admin_address(const std::filesystem::path& state_dir, const std::string& address,
                         std::string& error);

}  // namespace msgflash::daemon
