// Child processes for the tests that run the real binaries (msgflashd, msgflashctl): spawned with their
// output in files, waited for with a deadline; and the small polls those tests share. Every wait is a poll
// bounded by a deadline, never a sleep standing in for synchronisation.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace msgflash::test {

// Calls `done` every `interval` until it holds or `limit` has passed; the result of its last call.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit,
              std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// A file's whole content (empty when it cannot be read).
std::string slurp(const std::filesystem::path& p);

struct spawn_options {
    std::filesystem::path out = "/dev/null";  // the child's stdout
    std::filesystem::path err = "/dev/null";  // …and stderr
    bool append = false;                      // add to those files (a daemon's log across restarts)
    // The child's environment ("NAME=value"); none: this process's.
    std::optional<std::vector<std::string>> env{};
};

// Starts argv[0] with its arguments; the child's pid, or -1 (errno-like code in *error when given).
pid_t spawn_process(const std::vector<std::string>& argv, const spawn_options& o, int* error = nullptr);

// Waits up to `limit` for the child to exit; its exit code (128 + signal when killed), nullopt if it did
// not exit in time (it is left running).
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit,
                             std::chrono::milliseconds interval = std::chrono::milliseconds(20));

}  // namespace msgflash::test
