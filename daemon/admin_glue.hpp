// What msgflashd's admin endpoint serves (lib/admin): the metrics gathered from the engine, the store and the
// spool, and the control calls of docs/admin-api.md carried out through the store's writer and the engine.
// The server runs on a thread of its own from the start (so /healthz and /readyz answer during recovery);
// admin_front hands metrics and control calls to daemon_admin on the engine's thread once it is attached.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "admin/admin_server.hpp"
#include "config/config.hpp"
#include "engine/dispatch_engine.hpp"
#include "engine/real_ports.hpp"
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
                 engine::client_send_port& api, const ingest_counters& ingested,
                 std::shared_ptr<spdlog::logger> log);

    // A SIGHUP's outcome (msgflash_config_reloads_total).
    void note_reload(bool ok) { ++(ok ? reloads_ok_ : reloads_refused_); }

    std::string metrics(bool ready);
    boost::asio::awaitable<admin::admin_reply> control(admin::route r);

  private:
    store::queue_reader* reader();

    const config& config_;
    store::queue_store& store_;
    engine::dispatch_engine& engine_;
    engine::client_send_port& api_;
    const ingest_counters& ingested_;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<store::queue_reader> reader_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::uint64_t reloads_ok_ = 0;
    std::uint64_t reloads_refused_ = 0;
};

// The admin server on its own thread, and what it answers before the engine runs: /readyz 503, metrics with
// the build and readiness only, control calls 503.
class admin_front {
  public:
    admin_front() = default;
    ~admin_front();  // stops the server and joins its thread
    admin_front(const admin_front&) = delete;
    admin_front& operator=(const admin_front&) = delete;

    // Listens on `at` and starts serving; false with `error` set when it cannot.
    bool start(const listen_address& at, std::string token, std::string& error);
    std::string address() const;

    // From the engine's thread: where the engine runs and its daemon_admin, until detach().
    void attach(boost::asio::any_io_executor engine, daemon_admin* glue);
    void detach();
    void set_ready() { ready_ = true; }

  private:
    admin::admin_handlers handlers();

    boost::asio::io_context io_{1};
    std::unique_ptr<admin::admin_server> server_;
    std::thread thread_;
    std::atomic<bool> ready_{false};
    std::mutex mutex_;  // guards engine_ and glue_
    boost::asio::any_io_executor engine_;
    daemon_admin* glue_ = nullptr;
};

// The admin token (docs/admin-api.md): <state dir>/admin.token, created with 32 random bytes in hex and mode
// 0640 when missing, kept across restarts. Empty with `error` set when it can be neither read nor made.
std::string load_or_create_admin_token(const std::filesystem::path& state_dir, std::string& error);
// Writes <state dir>/admin.address (temp file, rename): where msgflashctl finds the endpoint.
bool write_admin_address(const std::filesystem::path& state_dir, const std::string& address,
                         std::string& error);

}  // namespace msgflash::daemon
