// msgflashctl's entry point: the command line → the daemon's configuration → one command (ctl_commands.hpp).
#include <cstdio>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"
#include "core/version.hpp"
#include "daemon/ctl_args.hpp"
#include "daemon/ctl_commands.hpp"

int main(int argc, char** argv) {
    using namespace msgflash::ctl;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const parse_result parsed = parse_command_line(args);
    if (!parsed.command) {
        fmt::print(stderr, "msgflashctl: {}\n\n{}", parsed.error, usage_text());
        return exit_usage;
    }
    const command_line& cmd = *parsed.command;
    if (cmd.help) {
        fmt::print("{}", usage_text());
        return exit_ok;
    }
    if (cmd.version) {
        fmt::print("msgflashctl {}\n", msgflash::version);
        return exit_ok;
    }
    auto loaded = msgflash::load_config(cmd.config);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) {
            fmt::print(stderr, "msgflashctl: {}\n", e.to_string());
        }
        return exit_failure;
    }
    const context ctx{
        .cmd = cmd,
        .cfg = *loaded.value,
        .out = stdout,
        .err = stderr,
        .now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()),
        .out_is_terminal = ::isatty(STDOUT_FILENO) == 1};
    const std::string& v = cmd.verb;
    if (v == "status") {
        return run_status(ctx);
    }
    if (v == "batches") {
        return run_batches(ctx);
    }
    if (v == "jobs") {
        return run_jobs(ctx);
    }
    if (v == "export") {
        return run_export(ctx);
    }
    if (v == "watch") {
        return run_watch(ctx);
    }
    if (v == "validate" || v == "submit") {
        return run_validate(ctx, v == "submit");
    }
    return run_control(ctx);
}
