// msgflashctl's commands, one function per verb group; each returns the process's exit code (SPEC §8:
// 0 ok, 1 failure; usage errors never reach them). Reads open the queue read-only; changes go to the daemon.
#pragma once

#include <cstdio>
#include <optional>
#include <span>
#include <vector>

#include "config/config.hpp"
#include "core/job.hpp"
#include "daemon/ctl_args.hpp"
#include "daemon/ctl_eta.hpp"
#include "store/queue_reader.hpp"

namespace msgflash::ctl {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

struct context {
    const command_line& cmd;
    const config& cfg;
    std::FILE* out = stdout;
    std::FILE* err = stderr;
    timestamp now{};
    bool out_is_terminal = false;
};

// The newest batches an estimate looks at to know how many share an account's pace and a number's caps.
inline constexpr std::size_t batches_considered = 10'000;

// The queue, read-only; prints why and returns nullopt when it cannot be opened.
std::optional<store::queue_reader> open_queue(const context& ctx);

// Per batch of `batches` (same order): its pace and estimate at the current pace and caps, given the
// account and number holds in `holds` (a held key or number sends nothing; so does a batch not active).
std::vector<batch_estimate> estimate_batches(const config& cfg, std::span<const store::batch_info> batches,
                                             std::span<const store::hold_info> holds, timestamp now);

int run_status(const context& ctx);                 // ctl_status.cpp
int run_batches(const context& ctx);                // ctl_batches.cpp
int run_jobs(const context& ctx);                   // ctl_batches.cpp
int run_export(const context& ctx);                 // ctl_batches.cpp
int run_watch(const context& ctx);                  // ctl_watch.cpp
int run_validate(const context& ctx, bool submit);  // ctl_submit.cpp
int run_control(const context& ctx);  // ctl_control.cpp: pause resume cancel retry campaign reconcile

}  // namespace msgflash::ctl
