// systemd's service notification protocol (sd_notify(3)) for Type=notify: READY=1 once the queue is
// recovered and the spool watched, STATUS= with what the engine is doing, WATCHDOG=1 while the event loop
// runs (when the unit sets WatchdogSec=), STOPPING=1 at SIGTERM. Outside systemd (no $NOTIFY_SOCKET) every
// call does nothing.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace spdlog {
class logger;
}

namespace msgflash::engine {
struct engine_stats;
}

namespace msgflash::daemon {

class systemd_notifier {
  public:
    // Reads $NOTIFY_SOCKET and the watchdog settings ($WATCHDOG_USEC, $WATCHDOG_PID) once; leaves them set.
    explicit systemd_notifier(std::shared_ptr<spdlog::logger> log);

    // $NOTIFY_SOCKET is set: the messages go somewhere.
    bool enabled() const noexcept { return enabled_; }
    // WatchdogSec= of the unit, when set for this process: WATCHDOG=1 is due at least this often.
    std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_; }

    void ready(std::string_view status);
    void status(std::string_view status);
    void watchdog();
    // Sends STOPPING=1 the first time only.
    void stopping(std::string_view status);

  private:
    void send(const std::string& message);

    std::shared_ptr<spdlog::logger> log_;
    bool enabled_ = false;
    bool stopping_ = false;
    bool send_failed_ = false;  // logged once
    std::optional<std::chrono::microseconds> watchdog_;
};

// Everything STATUS= says: "sent 120, failed 3 (retried 2, dead 1), 429s 0, held 0; pace 19.6 req/s over
// 2 keys".
std::string status_line(const engine::engine_stats& stats, double pace, std::size_t keys);

// Until `stop` is set (and `timer` cancelled): STATUS=status() every status_interval and WATCHDOG=1 every
// half watchdog interval, on the io_context that runs the engine, so a stuck event loop stops the pings.
boost::asio::awaitable<void> notify_loop(systemd_notifier& notifier, boost::asio::steady_timer& timer,
                                         const bool& stop, std::chrono::milliseconds status_interval,
                                         std::function<std::string()> status);

}  // namespace msgflash::daemon
