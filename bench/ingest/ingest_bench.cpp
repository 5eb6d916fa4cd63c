// bench/ingest: a 1,000,000-recipient batch file (text message with a {{name}} placeholder, each recipient
// with a ref and a variable) ingested by a child process into a fresh queue database on disk
// (synchronous=FULL, as the store runs), side by side with the sqlite3 CLI's `.import` of the same rows, as
// CSV, into a `jobs` table of the same shape (the queue's own schema: same columns, constraints, indexes),
// timed the same way: wall time from fork to exit, peak RSS from wait4's ru_maxrss.
// Prints both, then `ingest_recipients_per_second: N`; exits 1 if a target (issue 4) is missed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "spool/spool_dirs.hpp"
#include "spool/spool_ingester.hpp"
#include "store/queue_store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace msgflash;

// Issue 4's targets.
constexpr double default_target_per_s = 300'000;
constexpr double default_rss_target_mib = 64;
constexpr std::string_view instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
constexpr std::size_t write_chunk_bytes = 1 << 20;

struct options {
    fs::path dir;
    std::size_t recipients = 1'000'000;
    double target = default_target_per_s;
    double rss_target_mib = default_rss_target_mib;
    std::int64_t cache_kib = 0;  // 0: the store's default page cache
    int runs = 1;                // ingests of the same file into fresh databases; the fastest is reported
    bool import = true;          // --import 0: no sqlite3 .import (quick A/B of the ingest alone)
};

struct run_figures {
    double seconds = 0;
    double peak_rss_mib = 0;
    double cpu_seconds = 0;  // user + system, all threads: steadier than wall time on a shared machine
    int status = 0;
};

// Forks, runs `child` (its return value is the exit code) or execs `argv`, waits; wall time and peak RSS.
template <typename Child>
run_figures timed_child(Child child) {
    std::fflush(stdout);  // or the child would print the parent's buffered lines again
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(child());
    }
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    run_figures f;
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    f.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss: KiB on Linux
    auto secs = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    f.cpu_seconds = secs(usage.ru_utime) + secs(usage.ru_stime);
    f.status = status;
    return f;
}

void write_batch_file(const fs::path& path, std::size_t n) {
    std::ofstream out(path, std::ios::binary);
    std::string buf = fmt::format(R"({{"batch":"bench-1m","account":"shop","instanceId":"{}",)"
                                  R"("message":{{"type":"text","body":"Hi {{{{name}}}}, -30% today only"}},)"
                                  "\n\"recipients\":[\n",
                                  instance_id);
    for (std::size_t i = 0; i < n; ++i) {
        fmt::format_to(std::back_inserter(buf),
                       R"({}{{"to":"+336{:08}","ref":"c-{}","variables":{{"name":"N{}"}}}})",
                       i == 0 ? "" : ",\n", i, i, i);
        if (buf.size() >= write_chunk_bytes) {
            out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
            buf.clear();
        }
    }
    buf += "\n]}\n";
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (!out.flush()) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

// The child: open a fresh queue, ingest the one file in incoming/, exit 0 if it was accepted.
int ingest_child(const fs::path& spool, const fs::path& db, std::size_t expected, std::int64_t cache_kib) {
    auto logger = spdlog::stderr_logger_st("ingest-bench");
    logger->set_level(spdlog::level::warn);
    store::store_options so;
    so.path = db;
    so.logger = logger;
    if (cache_kib > 0) {
        so.cache_kib = cache_kib;
    }
    auto store = store::queue_store::open(so);
    std::error_code ec;
    auto dirs = spool::spool_dirs::open(spool, ec);
    if (!store || !dirs) {
        return 2;
    }
    spool::ingester_options io;
    io.accounts = {"shop"};
    io.logger = logger;
    spool::spool_ingester ingester(*dirs, **store, io);
    const auto r = ingester.ingest("bench.json");
    (*store)->close();
    if (r.outcome != spool::file_outcome::accepted || r.inserted != expected) {
        std::fprintf(stderr, "ingest: %s, %llu inserted (%s)\n", std::string(to_string(r.outcome)).c_str(),
                     static_cast<unsigned long long>(r.inserted), r.reason.c_str());
        return 1;
    }
    return 0;
}

void check(sqlite3* db, int rc, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        throw std::runtime_error(fmt::format("{}: {}", what, sqlite3_errmsg(db)));
    }
}

// The queued jobs as CSV (what .import reads) and the queue's schema in a fresh database beside it.
void prepare_import(const fs::path& queue_db, const fs::path& csv, const fs::path& import_db) {
    sqlite3* src = nullptr;
    check(src, sqlite3_open_v2(queue_db.c_str(), &src, SQLITE_OPEN_READONLY, nullptr), "open queue");
    sqlite3* dst = nullptr;
    check(dst, sqlite3_open(import_db.c_str(), &dst), "open import db");
    check(dst, sqlite3_exec(dst, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr), "wal");
    sqlite3_stmt* st = nullptr;
    check(
        src,
        sqlite3_prepare_v2(src,
                           "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                           "ORDER BY type = 'index'",
                           -1, &st, nullptr),
        "schema");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const auto* sql = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        check(dst, sqlite3_exec(dst, sql, nullptr, nullptr, nullptr), sql);
    }
    sqlite3_finalize(st);
    // The batch and account rows the jobs refer to (foreign keys).
    check(dst,
          sqlite3_exec(dst, fmt::format("ATTACH '{}' AS q", queue_db.string()).c_str(), nullptr, nullptr,
                       nullptr),
          "attach");
    for (const char* copy : {"accounts", "batches"}) {
        check(dst,
              sqlite3_exec(dst, fmt::format("INSERT INTO main.{0} SELECT * FROM q.{0}", copy).c_str(),
                           nullptr, nullptr, nullptr),
              copy);
    }
    check(dst, sqlite3_exec(dst, "DETACH q", nullptr, nullptr, nullptr), "detach");
    sqlite3_close(dst);

    std::ofstream out(csv, std::ios::binary);
    check(src, sqlite3_prepare_v2(src, "SELECT * FROM jobs ORDER BY id", -1, &st, nullptr), "jobs");
    const int cols = sqlite3_column_count(st);
    std::string buf;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < cols; ++c) {
            if (c > 0) {
                buf += ',';
            }
            if (sqlite3_column_type(st, c) == SQLITE_NULL) {
                continue;
            }
            const std::string_view v(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                     static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
            if (v.find_first_of(",\"\n") == std::string_view::npos) {
                buf += v;
            } else {
                buf += '"';
                for (char ch : v) {
                    buf += ch;
                    if (ch == '"') {
                        buf += '"';
                    }
                }
                buf += '"';
            }
        }
        buf += '\n';
        if (buf.size() >= write_chunk_bytes) {
            out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
            buf.clear();
        }
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    sqlite3_finalize(st);
    sqlite3_close(src);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--dir") {
            o.dir = v;
        } else if (k == "--recipients") {
            o.recipients = std::strtoull(v, nullptr, 10);
        } else if (k == "--target") {
            o.target = std::strtod(v, nullptr);
        } else if (k == "--runs") {
            o.runs = std::max(1, std::atoi(v));
        } else if (k == "--import") {
            o.import = std::string_view(v) != "0";
        } else if (k == "--cache-kib") {
            o.cache_kib = std::strtoll(v, nullptr, 10);
        } else if (k == "--rss-target-mib") {
            o.rss_target_mib = std::strtod(v, nullptr);
        } else {
            throw std::runtime_error(fmt::format("unknown option {}", k));
        }
    }
    if (o.dir.empty()) {
        throw std::runtime_error(
            "usage: msgflash-ingest-bench --dir WORK_DIR [--recipients N] [--target R/S] "
            "[--rss-target-mib M] [--cache-kib K] [--runs N] [--import 0|1]");
    }
    return o;
}

bool exited_ok(const run_figures& f) {
    return WIFEXITED(f.status) && WEXITSTATUS(f.status) == 0;
}

}  // namespace

int main(int argc, char** argv) try {
    const options o = parse(argc, argv);
    const fs::path spool = o.dir / "spool";
    const fs::path queue_db = o.dir / "queue.db";
    const fs::path csv = o.dir / "jobs.csv";
    const fs::path import_db = o.dir / "import.db";
    fs::create_directories(spool / "incoming");

    const fs::path temp = spool / "incoming" / ".bench.json.tmp";
    write_batch_file(temp, o.recipients);
    fs::rename(temp, spool / "incoming" / "bench.json");
    std::printf("batch file: %zu recipients, %.1f MB\n", o.recipients,
                static_cast<double>(fs::file_size(spool / "incoming" / "bench.json")) / 1e6);

    run_figures ours;
    for (int run = 0; run < o.runs; ++run) {
        fs::remove(queue_db);
        fs::remove(queue_db.string() + "-wal");
        fs::remove(queue_db.string() + "-shm");
        if (run > 0) {  // the ingester moved the file out of incoming/
            for (const auto& e : fs::recursive_directory_iterator(spool)) {
                if (e.is_regular_file() && e.path().filename() == "bench.json") {
                    fs::rename(e.path(), spool / "incoming" / "bench.json");
                    break;
                }
            }
        }
        const run_figures f =
            timed_child([&] { return ingest_child(spool, queue_db, o.recipients, o.cache_kib); });
        if (!exited_ok(f)) {
            std::fprintf(stderr, "the ingest failed (status %d)\n", f.status);
            return 2;
        }
        if (o.runs > 1) {
            std::printf("ingest run %d: %.2f s, %.0f recipients/s, peak RSS %.1f MiB, CPU %.2f s\n", run + 1,
                        f.seconds, static_cast<double>(o.recipients) / f.seconds, f.peak_rss_mib,
                        f.cpu_seconds);
        }
        if (run == 0 || f.seconds < ours.seconds) {
            ours = f;
        }
    }
    const double ours_rate = static_cast<double>(o.recipients) / ours.seconds;
    if (!o.import) {
        std::printf(
            "msgflash ingest: %.2f s, %.0f recipients/s, peak RSS %.1f MiB, CPU %.2f s (no .import)\n",
            ours.seconds, ours_rate, ours.peak_rss_mib, ours.cpu_seconds);
        std::printf("ingest_recipients_per_second: %.0f\n", ours_rate);
        return ours_rate >= o.target && ours.peak_rss_mib <= o.rss_target_mib ? 0 : 1;
    }
    prepare_import(queue_db, csv, import_db);
    const std::string db_arg = import_db.string();
    const std::string import_cmd = fmt::format(".import --csv {} jobs", csv.string());
    const run_figures cli = timed_child([&] {
        std::FILE* devnull = std::freopen("/dev/null", "w", stdout);  // the pragmas echo their values
        (void)devnull;
        ::execlp("sqlite3", "sqlite3", "-cmd", "PRAGMA journal_mode=WAL", "-cmd", "PRAGMA synchronous=FULL",
                 db_arg.c_str(), import_cmd.c_str(), static_cast<char*>(nullptr));
        return 127;
    });
    if (!exited_ok(cli)) {
        std::fprintf(stderr, "sqlite3 .import failed (status %d)\n", cli.status);
        return 2;
    }

    const double cli_rate = static_cast<double>(o.recipients) / cli.seconds;
    std::printf("%-44s %12s %14s %14s %12s\n", "", "seconds", "recipients/s", "peak RSS MiB", "CPU seconds");
    std::printf("%-44s %12.2f %14.0f %14.1f %12.2f\n", "msgflash ingest (parse, validate, render, queue)",
                ours.seconds, ours_rate, ours.peak_rss_mib, ours.cpu_seconds);
    std::printf("%-44s %12.2f %14.0f %14.1f %12.2f\n", "sqlite3 .import of the same rows as CSV", cli.seconds,
                cli_rate, cli.peak_rss_mib, cli.cpu_seconds);
    std::printf("ratio ingest / .import: %.2f\n", ours_rate / cli_rate);
    const bool met = ours_rate >= o.target && ours.peak_rss_mib <= o.rss_target_mib;
    std::printf("targets: >= %.0f recipients/s, peak RSS <= %.0f MiB: %s\n", o.target, o.rss_target_mib,
                met ? "met" : "MISSED");
    std::printf("ingest_recipients_per_second: %.0f\n", ours_rate);
    return met ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "msgflash-ingest-bench: %s\n", e.what());
    return 2;
}
