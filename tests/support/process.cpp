#include "tests/support/process.hpp"

#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace msgflash::test {

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit,
              std::chrono::milliseconds interval) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) {
            return true;
        }
        std::this_thread::sleep_for(interval);
    }
    return done();
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

pid_t spawn_process(const std::vector<std::string>& argv, const spawn_options& o, int* error) {
    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (std::string& a : args) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    std::vector<std::string> env = o.env.value_or(std::vector<std::string>{});
    std::vector<char*> cenv;
    for (std::string& e : env) {
        cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);

    const int flags = O_WRONLY | O_CREAT | (o.append ? O_APPEND : O_TRUNC);
    const std::string out = o.out.string();
    const std::string err = o.err.string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), flags, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), flags, 0600);
    pid_t pid = -1;
    const int rc =
        posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), o.env ? cenv.data() : environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != nullptr) {
        *error = rc;
    }
    return rc == 0 ? pid : -1;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit, std::chrono::milliseconds interval) {
    int status = 0;
    if (!wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit, interval)) {
        return std::nullopt;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace msgflash::test
