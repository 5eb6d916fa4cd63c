// Watches incoming/ and hands each file that is ready, one at a time, to a handler (the ingester) on the
// spool's own thread: inotify (IN_CLOSE_WRITE, IN_MOVED_TO) for what arrives, plus a scan at start and every
// spool.rescan_interval for what events cannot tell (files dropped before the start, IN_Q_OVERFLOW, files
// left in incoming/ to be retried).
//
// A thread of its own with a poll(2) loop, not the network io_context: ingesting blocks (hashing, parsing,
// waiting for the store's writer) for seconds on a large file, and the dispatch must never wait behind it.
// The loop waits on the inotify fd and an eventfd (stop, scan requests) with the time to the next rescan as
// its timeout; stop() wakes it at once and the handler's stop_token lets a long file be given up mid-way
// (the ingester aborts its session: nothing committed, the file stays for the next start).
//
//     spool_ingester ingester(dirs, store, ingester_options::from_config(cfg));
//     auto w = spool_watcher::create(dirs.incoming(), {.rescan_interval = cfg.spool.rescan_interval},
//                                    [&](const std::string& name, std::stop_token st) {
//                                        metrics.count(ingester.ingest(name, st)); }, ec);
//     w->start(); …; w->stop();
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "spool/safe_open.hpp"

namespace msgflash::spool {

struct watcher_options {
    std::chrono::milliseconds rescan_interval{30'000};  // spool.rescan_interval
    std::shared_ptr<spdlog::logger> logger{};           // null: spdlog's default logger
};

struct watcher_stats {
    std::uint64_t scans = 0;      // full listings of incoming/ (the first one included)
    std::uint64_t events = 0;     // inotify events for names in incoming/
    std::uint64_t overflows = 0;  // IN_Q_OVERFLOW: events were lost, a scan followed
    std::uint64_t handled = 0;    // handler calls
};

// The names in incoming/ that may be job files (dot-files and *.tmp left out), sorted: what a scan hands
// over.
std::vector<std::string> list_incoming(int incoming_fd, std::error_code& ec);

class spool_watcher {
  public:
    using handler = std::function<void(const std::string& name, std::stop_token stop)>;

    // Watches the directory open as `incoming_fd` (borrowed: it must outlive the watcher).
    static std::unique_ptr<spool_watcher> create(int incoming_fd, watcher_options options, handler on_file,
                                                 std::error_code& ec);

    ~spool_watcher();  // stop()
    spool_watcher(const spool_watcher&) = delete;
    spool_watcher& operator=(const spool_watcher&) = delete;

    // Starts the spool thread: a scan first, then events and rescans until stop().
    void start();
    // Wakes the thread, asks the handler in progress to give up (its stop_token), and joins. Idempotent.
    void stop();
    // Asks for a scan of incoming/ as soon as the file in hand is done (e.g. `msgflashctl rescan`).
    void request_scan();

    watcher_stats stats() const noexcept;

  private:
    spool_watcher(int incoming_fd, watcher_options options, handler on_file);
    struct loop_state;
    void run(std::stop_token stop);
    void wake() noexcept;

    int incoming_fd_;
    watcher_options options_;
    std::shared_ptr<spdlog::logger> logger_;
    handler on_file_;
    unique_fd inotify_;
    unique_fd wake_;  // eventfd: stop and scan requests
    std::atomic<bool> scan_requested_{false};
    std::atomic<std::uint64_t> scans_{0};
    std::atomic<std::uint64_t> events_{0};
    std::atomic<std::uint64_t> overflows_{0};
    std::atomic<std::uint64_t> handled_{0};
    std::jthread thread_;
};

}  // namespace msgflash::spool
