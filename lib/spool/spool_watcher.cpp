#include "spool/spool_watcher.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace msgflash::spool {

namespace {

// What tells us a file in incoming/ is complete: its writer closed it, or it was renamed into place (the
// safe drop of SPEC §3). The directory's own removal or move ends the watch; the rescans go on.
constexpr std::uint32_t watch_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// One read takes many events (each is 16 bytes + a name of at most NAME_MAX + 1).
constexpr std::size_t event_buffer_bytes = 64 * 1024;

std::error_code last_error() {
    return {errno, std::system_category()};
}

}  // namespace

std::vector<std::string> list_incoming(int incoming_fd, std::error_code& ec) {
    ec.clear();
    std::vector<std::string> names;
    // A descriptor of its own: readdir moves the offset of the open file description it reads.
    unique_fd fd(::openat(incoming_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* dir = fd ? ::fdopendir(fd.get()) : nullptr;
    if (dir == nullptr) {
        ec = last_error();
        return names;
    }
    static_cast<void>(fd.release());  // owned by `dir` from here on
    errno = 0;
    while (const dirent* e = ::readdir(dir)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != ".." && check_name(n).verdict != name_class::in_progress) {
            names.emplace_back(n);
        }
        errno = 0;
    }
    if (errno != 0) {
        ec = last_error();
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
}

// The pending names, in arrival order, each at most once.
struct spool_watcher::loop_state {
    std::deque<std::string> pending;
    std::unordered_set<std::string> queued;
    bool scan_due = true;
    bool watch_lost = false;

    void add(std::string name) {
        if (check_name(name).verdict == name_class::in_progress) {
            return;
        }
        if (queued.insert(name).second) {
            pending.push_back(std::move(name));
        }
    }

    std::string take() {
        std::string name = std::move(pending.front());
        pending.pop_front();
        queued.erase(name);
        return name;
    }
};

std::unique_ptr<spool_watcher> spool_watcher::create(int incoming_fd, watcher_options options,
                                                     handler on_file, std::error_code& ec) {
    ec.clear();
    std::unique_ptr<spool_watcher> w(new spool_watcher(incoming_fd, std::move(options), std::move(on_file)));
    w->inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    w->wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!w->inotify_ || !w->wake_) {
        ec = last_error();
        return nullptr;
    }
    // Watch the very directory we hold open, not whatever its path names now.
    const std::string self = fmt::format("/proc/self/fd/{}", incoming_fd);
    if (::inotify_add_watch(w->inotify_.get(), self.c_str(), watch_mask) < 0) {
        ec = last_error();
        return nullptr;
    }
    return w;
}

spool_watcher::spool_watcher(int incoming_fd, watcher_options options, handler on_file)
    : incoming_fd_(incoming_fd),
      options_(std::move(options)),
      logger_(options_.logger ? options_.logger : spdlog::default_logger()),
      on_file_(std::move(on_file)) {}

spool_watcher::~spool_watcher() {
    stop();
}

void spool_watcher::start() {
    if (!thread_.joinable()) {
        thread_ = std::jthread([this](std::stop_token st) { run(std::move(st)); });
    }
}

void spool_watcher::stop() {
    if (thread_.joinable()) {
        thread_.request_stop();  // its stop_callback wakes the loop
        thread_.join();
    }
}

void spool_watcher::request_scan() {
    scan_requested_.store(true);
    wake();
}

watcher_stats spool_watcher::stats() const noexcept {
    return {scans_.load(), events_.load(), overflows_.load(), handled_.load()};
}

void spool_watcher::wake() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN only when the counter is saturated: the loop is awake anyway.
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void spool_watcher::run(std::stop_token stop) {
    std::stop_callback wake_on_stop(stop, [this] { wake(); });
    loop_state s;
    std::vector<char> events(event_buffer_bytes);
    using clock = std::chrono::steady_clock;
    auto next_scan = clock::now();

    const auto scan = [&] {
        ++scans_;
        std::error_code ec;
        for (auto& n : list_incoming(incoming_fd_, ec)) {
            s.add(std::move(n));
        }
        if (ec) {
            logger_->error("spool: cannot list incoming/: {}", ec.message());
        }
    };

    const auto drain_events = [&] {
        for (;;) {
            const ssize_t len = ::read(inotify_.get(), events.data(), events.size());
            if (len <= 0) {
                if (len < 0 && errno != EAGAIN && errno != EINTR) {
                    logger_->error("spool: reading inotify events failed: {}", last_error().message());
                }
                return;
            }
            for (ssize_t off = 0; off < len;) {
                inotify_event ev{};
                std::memcpy(&ev, events.data() + off, sizeof ev);  // the buffer has no alignment guarantee
                const char* name = events.data() + off + sizeof ev;
                off += static_cast<ssize_t>(sizeof ev + ev.len);
                if ((ev.mask & IN_Q_OVERFLOW) != 0) {
                    ++overflows_;
                    s.scan_due = true;
                } else if ((ev.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
                    if (!s.watch_lost) {
                        s.watch_lost = true;
                        logger_->error("spool: incoming/ was removed or moved; only rescans will see files");
                    }
                } else if (ev.len > 0) {
                    ++events_;
                    s.add(std::string(name, ::strnlen(name, ev.len)));
                }
            }
        }
    };

    while (!stop.stop_requested()) {
        const auto now = clock::now();
        if (s.scan_due || now >= next_scan || scan_requested_.exchange(false)) {
            s.scan_due = false;
            scan();
            next_scan = clock::now() + options_.rescan_interval;
        }
        int timeout_ms = 0;
        if (s.pending.empty()) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_scan - clock::now());
            timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT32_MAX));
        }
        std::array<pollfd, 2> fds{{{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
            logger_->error("spool: poll failed: {}", last_error().message());
        }
        if ((fds[1].revents & POLLIN) != 0) {
            std::uint64_t v = 0;
            [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &v, sizeof v);
        }
        if ((fds[0].revents & POLLIN) != 0) {
            drain_events();
        }
        if (stop.stop_requested() || s.pending.empty()) {
            continue;
        }
        const std::string name = s.take();
        ++handled_;
        try {
            on_file_(name, stop);
        } catch (const std::exception& e) {
            logger_->error("spool: handling {} failed: {}", printable_name(name), e.what());
        }
    }
}

}  // namespace msgflash::spool
