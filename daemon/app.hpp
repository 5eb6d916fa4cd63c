// msgflashd's composition root: from a loaded configuration and its keys, builds the store, the API client
// and the dispatch engine on one io_context thread, the spool watcher and ingester on theirs, wires the
// signals, runs until SIGTERM/SIGINT, and shuts down in order (engine drained, spool stopped, store closed).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/api_keys.hpp"
#include "config/config.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::daemon {

// spdlog to stderr at the configured level (journald adds its own timestamps and priority).
std::shared_ptr<spdlog::logger> make_stderr_logger(log_level level);

class app {
  public:
    app(config cfg, std::map<std::string, api_key, std::less<>> keys, std::shared_ptr<spdlog::logger> log);

    // Runs in the foreground until SIGTERM or SIGINT; 0 after a clean shutdown, 1 when it cannot start.
    int run();

  private:
    config config_;
    std::map<std::string, api_key, std::less<>> keys_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace msgflash::daemon
