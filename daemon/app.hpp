// msgflashd's composition root: from a loaded configuration and its keys, builds the store, the API client
// and the dispatch engine on one io_context thread, the spool watcher and ingester on theirs, wires the
// signals, runs until SIGTERM/SIGINT, and shuts down in order (engine drained, spool stopped, store closed).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/api_keys.hpp"
#include "config/config.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::daemon {

// spdlog to stderr at the configured level (journald adds its own timestamps and priority).
std::shared_ptr<spdlog::logger> make_stderr_logger(log_level level);

using key_map = std::map<std::string, api_key, std::less<>>;

// What SIGHUP reloads: the configuration and every account's key, or nullopt when either is refused (the
// loader has said why).
struct loaded_config {
    config cfg;
    key_map keys;
};
using config_loader = std::function<std::optional<loaded_config>()>;

class app {
  public:
    // `reload` is called on SIGHUP.
    app(config cfg, key_map keys, config_loader reload, std::shared_ptr<spdlog::logger> log);

    // Runs in the foreground until SIGTERM or SIGINT; 0 after a clean shutdown, 1 when it cannot start.
    int run();

  private:
    config config_;
    key_map keys_;
    config_loader reload_;
    std::shared_ptr<spdlog::logger> log_;
};

}  // namespace msgflash::daemon
