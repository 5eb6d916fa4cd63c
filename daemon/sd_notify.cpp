#include "daemon/sd_notify.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <system_error>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <systemd/sd-daemon.h>

#include "engine/dispatch_engine.hpp"

namespace msgflash::daemon {

namespace asio = boost::asio;

systemd_notifier::systemd_notifier(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {
    const char* socket = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): read at start
    enabled_ = socket != nullptr && *socket != '\0';
    std::uint64_t usec = 0;
    const int r = sd_watchdog_enabled(0, &usec);
    if (r > 0 && usec > 0) {
        watchdog_ = std::chrono::microseconds(usec);
    } else if (r < 0 && log_) {
        log_->warn("systemd watchdog settings ignored: {}", std::generic_category().message(-r));
    }
}

void systemd_notifier::send(const std::string& message) {
    if (!enabled_) {
        return;
    }
    const int r = sd_notify(0, message.c_str());
    if (r < 0 && !send_failed_) {
        send_failed_ = true;
        if (log_) {
            log_->warn("systemd notification failed: {} (further failures are not logged)",
                       std::generic_category().message(-r));
        }
    }
}

void systemd_notifier::ready(std::string_view status) {
    send(fmt::format("READY=1\nSTATUS={}", status));
}

void systemd_notifier::status(std::string_view status) {
    send(fmt::format("STATUS={}", status));
}

void systemd_notifier::watchdog() {
    if (watchdog_) {
        send("WATCHDOG=1");
    }
}

void systemd_notifier::stopping(std::string_view status) {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    send(fmt::format("STOPPING=1\nSTATUS={}", status));
}

std::string status_line(const engine::engine_stats& stats, double pace, std::size_t keys) {
    return fmt::format(
        "sent {}, failed {} (retried {}, dead {}), 429s {}, held {}; pace {:.1f} req/s over {} "
        "key{}",
        stats.sent, stats.failed, stats.retried, stats.dead, stats.rate_limited, stats.held, pace, keys,
        keys == 1 ? "" : "s");
}

asio::awaitable<void> notify_loop(systemd_notifier& notifier, asio::steady_timer& timer, const bool& stop,
                                  std::chrono::milliseconds status_interval,
                                  std::function<std::string()> status) {
    if (!notifier.enabled()) {
        co_return;
    }
    // A ping every half interval, as sd_watchdog_enabled(3) advises; the status at its own, slower pace.
    std::chrono::milliseconds tick = status_interval;
    if (const auto wd = notifier.watchdog_interval()) {
        tick = std::min(tick, std::max(std::chrono::milliseconds(1),
                                       std::chrono::duration_cast<std::chrono::milliseconds>(*wd / 2)));
    }
    auto next_status = std::chrono::steady_clock::now() + status_interval;
    while (!stop) {
        notifier.watchdog();
        timer.expires_after(tick);
        const auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || stop) {
            co_return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_status) {
            next_status = now + status_interval;
            notifier.status(status());
        }
    }
}

}  // namespace msgflash::daemon
