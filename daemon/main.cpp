// msgflashd's entry point: arguments → configuration and keys → app (daemon/app.hpp) → run, or --check.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "config/api_keys.hpp"
#include "config/config.hpp"
#include "core/version.hpp"
#include "daemon/app.hpp"

namespace {

// Exit codes, as msgflashctl's: 0 ok, 1 failure, 2 usage (SPEC §8).
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage = R"(usage: msgflashd --config PATH [--check]
       msgflashd --version | --help

  --config PATH   the configuration file (TOML; see config/msgflashd.toml for every key); without --check,
                  run in the foreground until SIGTERM or SIGINT
  --check         validate the configuration and load every account's API key, then exit:
                  0 when both are good, 1 with every problem listed otherwise
)";

// The configuration and every account's key, each problem printed; nullopt config when it is refused.
struct loaded {
    std::optional<msgflash::config> cfg;
    msgflash::api_keys_result keys;
};

loaded load(const std::string& path) {
    auto parsed = msgflash::load_config(path);
    for (const auto& w : parsed.warnings) {
        fmt::print(stderr, "warning: {}\n", w.to_string());
    }
    if (!parsed.ok()) {
        for (const auto& e : parsed.errors) {
            fmt::print(stderr, "error: {}\n", e.to_string());
        }
        fmt::print(stderr, "{}: {} error(s); configuration refused\n", path, parsed.errors.size());
        return {};
    }
    auto keys = msgflash::load_api_keys(*parsed.value, msgflash::process_environment,
                                        msgflash::credentials_directory_from_environment());
    for (const auto& e : keys.errors) {
        fmt::print(stderr, "error: {}\n", e.to_string());
    }
    return {std::move(parsed.value), std::move(keys)};
}

// Runs the daemon in the foreground once the configuration and every key are good.
int serve(const std::string& path) {
    loaded l = load(path);
    if (!l.cfg || !l.keys.ok()) {
        return exit_failure;
    }
    auto log = msgflash::daemon::make_stderr_logger(l.cfg->log.level);
    // SIGHUP reads the same file and keys again; what it refuses is printed as at the start.
    msgflash::daemon::config_loader reload = [path]() -> std::optional<msgflash::daemon::loaded_config> {
        loaded again = load(path);
        if (!again.cfg || !again.keys.ok()) {
            return std::nullopt;
        }
        return msgflash::daemon::loaded_config{std::move(*again.cfg), std::move(again.keys.keys)};
    };
    msgflash::daemon::app app(std::move(*l.cfg), std::move(l.keys.keys), std::move(reload), std::move(log));
    return app.run();
}

int check(const std::string& path) {
    const loaded l = load(path);
    if (!l.cfg) {
        return exit_failure;
    }
    const auto& cfg = *l.cfg;
    const auto& keys = l.keys;
    if (keys.ok()) {
        fmt::print("{}: configuration ok\n", path);
    } else {
        fmt::print("{}: configuration ok, but {} key(s) could not be loaded\n", path, keys.errors.size());
    }
    fmt::print("  api        {} (timeout {} ms, {} connections at most)\n", cfg.api.base_url.to_string(),
               cfg.api.timeout.count(), cfg.api.max_connections);
    fmt::print("  spool      {}\n  queue      {}\n  admin      {}\n", cfg.spool.dir.string(),
               cfg.queue.path.string(), cfg.admin.listen.to_string());
    for (const auto& account : cfg.accounts) {
        const auto key = keys.keys.find(account.name);
        fmt::print("  account    {:<16} {} req/s  key {}\n", account.name, account.rate,
                   key == keys.keys.end() ? std::string("(not loaded)") : key->second.redacted());
    }
    return keys.ok() ? exit_ok : exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            fmt::print("{}", usage);
            return exit_ok;
        }
        if (arg == "--version") {
            fmt::print("msgflashd {}\n", msgflash::version);
            return exit_ok;
        }
        if (arg == "--check") {
            check_only = true;
        } else if (arg == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.starts_with("--config=")) {
            config_path = arg.substr(std::string_view("--config=").size());
        } else {
            fmt::print(stderr, "msgflashd: unknown argument '{}'\n{}", arg, usage);
            return exit_usage;
        }
    }
    if (config_path.empty()) {
        fmt::print(stderr, "msgflashd: --config PATH is required\n{}", usage);
        return exit_usage;
    }
    return check_only ? check(config_path) : serve(config_path);
}
