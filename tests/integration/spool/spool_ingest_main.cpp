// msgflash-spool-ingest SPOOL_DIR DB_PATH [ACCOUNT...]: one scan of SPOOL_DIR/incoming/ into the queue at
// DB_PATH, each file as the daemon would take it, then exit (0: every file accepted or rejected; 3: some left
// to retry). The accounts batches may name: the ACCOUNTs given, else "shop". bench/scale fills its queue so.
// The crash test kills it at random moments and runs it again; the daemon's own main is issue 5's.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "spool/spool_dirs.hpp"
#include "spool/spool_ingester.hpp"
#include "spool/spool_watcher.hpp"
#include "store/queue_store.hpp"

namespace {

using namespace msgflash;

// Exit codes: 2 for a setup failure, 3 when a file was left in incoming/ to be retried.
constexpr int exit_setup_failed = 2;
constexpr int exit_files_left = 3;

timestamp now_ms() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s SPOOL_DIR DB_PATH [ACCOUNT...]\n", argv[0]);
        return exit_setup_failed;
    }
    auto logger = spdlog::stderr_logger_st("spool-ingest");
    logger->set_level(spdlog::level::warn);

    store::store_options so;
    so.path = argv[2];
    so.now = now_ms();
    so.logger = logger;
    auto store = store::queue_store::open(so);
    if (!store) {
        std::fprintf(stderr, "cannot open the queue: %s\n", store.error().message().c_str());
        return exit_setup_failed;
    }
    std::error_code ec;
    auto dirs = spool::spool_dirs::open(argv[1], ec);
    if (!dirs) {
        std::fprintf(stderr, "cannot open the spool: %s\n", ec.message().c_str());
        return exit_setup_failed;
    }
    spool::ingester_options io;
    io.accounts = {"shop"};
    if (argc > 3) {
        io.accounts.assign(argv + 3, argv + argc);
    }
    io.now = now_ms;
    io.logger = logger;
    spool::spool_ingester ingester(*dirs, **store, io);

    int status = 0;
    for (const auto& name : spool::list_incoming(dirs->incoming(), ec)) {
        const auto r = ingester.ingest(name);
        std::printf("%s %s inserted=%llu already_present=%llu\n", std::string(to_string(r.outcome)).c_str(),
                    spool::printable_name(name).c_str(), static_cast<unsigned long long>(r.inserted),
                    static_cast<unsigned long long>(r.already_present));
        if (r.outcome == spool::file_outcome::retry) {
            status = exit_files_left;
        }
    }
    if (ec) {
        std::fprintf(stderr, "cannot list incoming/: %s\n", ec.message().c_str());
        return exit_setup_failed;
    }
    return status;
}
