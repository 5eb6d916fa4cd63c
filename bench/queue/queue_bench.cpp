// bench/queue: the dispatch cycle through the queue's writer — claim (jobs marked inflight, committed) →
// record the result (attempt, job state, delivery row, number counters, committed) — on a database holding
// 200,000 queued jobs, with synchronous=FULL, side by side:
//   (a) group commit: several dispatcher coroutines on one io_context (the daemon's network thread) claiming
//   a
//       few jobs at a time and recording each job's result as its own operation;
//   (b) the same operations, one transaction each (max_group_ops = 1): a claim of one job, then its result.
// Prints both rates, the ratio, and last `queue_jobs_per_s: <a>`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "store/ingest.hpp"
#include "store/queue_ops.hpp"
#include "store/queue_store.hpp"

namespace {

namespace asio = boost::asio;
using namespace msgflash;
using namespace msgflash::store;
using clock_type = std::chrono::steady_clock;

struct bench_options {
    std::filesystem::path dir = std::filesystem::temp_directory_path();
    std::size_t queued = 200'000;        // jobs in the database when (a) starts
    std::size_t grouped_jobs = 150'000;  // jobs cycled by (a)
    std::size_t single_jobs = 5'000;     // jobs cycled by (b)
    std::size_t dispatchers = 16;
    std::size_t claim_size = 16;
    std::size_t max_group_ops = store_options{}.max_group_ops;  // for (a): the daemon's
    double target = 50'000;
    bool profile = false;  // per-statement times on the writer connection (sqlite3_trace_v2)
};

// Time spent per SQL statement on the writer connection; only touched on the writer thread.
struct statement_profile {
    struct entry {
        std::uint64_t runs = 0;
        std::uint64_t nanos = 0;
    };
    std::map<std::string, entry> by_sql;
    std::int64_t pages_written = 0;  // to the WAL: what the commits and the checkpoints cost the kernel

    static int on_trace(unsigned, void* self, void* stmt, void* nanos) {
        const char* sql = ::sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
        auto& e = static_cast<statement_profile*>(self)->by_sql[sql != nullptr ? sql : "?"];
        ++e.runs;
        e.nanos += static_cast<std::uint64_t>(*static_cast<sqlite3_int64*>(nanos));
        return 0;
    }

    void print(std::size_t jobs) const {
        std::vector<std::pair<std::string, entry>> v(by_sql.begin(), by_sql.end());
        std::sort(v.begin(), v.end(),
                  [](const auto& a, const auto& b) { return a.second.nanos > b.second.nanos; });
        std::printf("\nwriter: %.2f pages written to the WAL per job\n",
                    static_cast<double>(pages_written) / static_cast<double>(jobs));
        std::printf("writer statements by time (per job cycled):\n");
        for (std::size_t i = 0; i < std::min<std::size_t>(v.size(), 15); ++i) {
            std::printf("  %8.2f us/job %9llu runs  %.100s\n", v[i].second.nanos / 1e3 / jobs,
                        static_cast<unsigned long long>(v[i].second.runs), v[i].first.c_str());
        }
    }
};

// Dirty pages the connection has written (to the WAL) since it opened.
std::int64_t pages_written(sqlite3* db) {
    int current = 0;
    int highwater = 0;
    ::sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &current, &highwater, 0);
    return current;
}

timestamp now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// CPU time of the whole process (every thread), user + system.
double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "queue_bench: %s\n", what.c_str());
    std::exit(1);
}

job_result result_for(const claimed_job& j) {
    const timestamp t = now();
    job_result r;
    r.attempt.job_id = j.id;
    r.attempt.n = j.attempt;
    r.attempt.started_at = t;
    r.attempt.finished_at = t;
    r.attempt.http_status = 200;
    r.attempt.latency_ms = 80;
    r.attempt.message_id = "3EB0" + std::to_string(j.id);
    r.attempt.outcome = attempt_outcome::sent;
    r.new_state = job_state::sent;
    r.api_status = "queued";
    r.count_send = true;
    r.now = t;
    return r;
}

void fill(queue_store& s, std::size_t n) {
    const auto start = clock_type::now();
    auto session =
        s.begin_ingest({.now = now(), .on_conflict = conflict_policy::reject_file, .source = "bench"});
    batch_spec b;
    b.id = "bench-batch";
    b.account = "shop";
    b.source_file = "bench.json";
    b.fingerprint = "bench";
    b.instance_ids = {"7c9e6679-7425-40de-944b-e07fc1f90ae7"};
    b.message_json = R"({"type":"text","body":"Hi {{name}}, -30% today only"})";
    const auto index = session->begin_batch(b);
    for (std::size_t i = 0; i < n; ++i) {
        job_spec j;
        j.to = "+336" + std::to_string(10'000'000 + i);
        j.ref = j.to;
        j.payload_json = R"({"name":"Ana"})";
        session->add_job(index, std::move(j));
        if (session->should_flush()) {
            if (auto r = session->flush(); !r) {
                die("ingest: " + r.error().message());
            }
        }
    }
    auto r = session->finish();
    if (!r) {
        die("ingest: " + r.error().message());
    }
    const double secs = seconds_since(start);
    std::printf("fill: %zu jobs ingested in one transaction in %.2f s (%.0f jobs/s)\n", n, secs, n / secs);
}

struct run_figures {
    std::size_t jobs = 0;
    double seconds = 0;
    double cpu = 0;
    writer_stats stats;
    std::size_t errors = 0;
};

// (a): dispatcher coroutines on one io_context; each claims a few jobs, then records each job's result as its
// own operation, all in flight at once (as the requests' answers would come back).
run_figures run_grouped(queue_store& s, const bench_options& o) {
    asio::io_context io;
    run_figures f;
    std::size_t budget = o.grouped_jobs;
    const writer_stats before = s.stats();
    const auto start = clock_type::now();
    const double cpu_start = cpu_seconds();
    for (std::size_t d = 0; d < o.dispatchers; ++d) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto ex = co_await asio::this_coro::executor;
                while (budget > 0) {
                    const std::size_t want = std::min(budget, o.claim_size);
                    budget -= want;
                    // A named command, not a temporary: GCC 12 mishandles temporaries with destructors inside
                    // a co_await expression.
                    claim_jobs cmd{claim_request{.account = "shop", .max_jobs = want, .now = now()}};
                    auto c = co_await s.async_submit(std::move(cmd), asio::use_awaitable);
                    if (!c) {
                        ++f.errors;
                        co_return;
                    }
                    if (c->jobs.empty()) {
                        co_return;
                    }
                    std::size_t pending = c->jobs.size();
                    asio::steady_timer all_recorded(ex, clock_type::time_point::max());
                    for (const claimed_job& j : c->jobs) {
                        s.async_submit(record_result{result_for(j)},
                                       asio::bind_executor(ex, [&](store_result<job_state> r) {
                                           if (!r || *r != job_state::sent) {
                                               ++f.errors;
                                           }
                                           if (--pending == 0) {
                                               all_recorded.cancel();
                                           }
                                       }));
                    }
                    co_await all_recorded.async_wait(asio::as_tuple(asio::use_awaitable));
                    f.jobs += c->jobs.size();
                }
            },
            asio::detached);
    }
    io.run();
    f.seconds = seconds_since(start);
    f.cpu = cpu_seconds() - cpu_start;
    const writer_stats after = s.stats();
    f.stats.commits = after.commits - before.commits;
    f.stats.ops = after.ops - before.ops;
    f.stats.max_group = after.max_group;
    return f;
}

// (b): one operation per transaction: claim one job (committed), then its result (committed).
run_figures run_single(queue_store& s, const bench_options& o) {
    run_figures f;
    const writer_stats before = s.stats();
    const auto start = clock_type::now();
    const double cpu_start = cpu_seconds();
    for (std::size_t i = 0; i < o.single_jobs; ++i) {
        auto c = s.submit(claim_jobs{claim_request{.account = "shop", .max_jobs = 1, .now = now()}});
        if (!c || c->jobs.empty()) {
            die("baseline claim failed");
        }
        auto r = s.submit(record_result{result_for(c->jobs[0])});
        if (!r) {
            ++f.errors;
        }
        ++f.jobs;
    }
    f.seconds = seconds_since(start);
    f.cpu = cpu_seconds() - cpu_start;
    const writer_stats after = s.stats();
    f.stats.commits = after.commits - before.commits;
    f.stats.ops = after.ops - before.ops;
    f.stats.max_group = after.max_group;
    return f;
}

std::unique_ptr<queue_store> open(const std::filesystem::path& db, std::size_t max_group_ops) {
    store_options so;
    so.path = db;
    so.now = now();
    so.max_group_ops = max_group_ops;
    auto r = queue_store::open(so);
    if (!r) {
        die("open: " + r.error().message());
    }
    return std::move(*r);
}

void print(const char* label, const run_figures& f) {
    std::printf(
        "%-54s %9.0f jobs/s  (%zu jobs in %.2f s; %llu commits, %.1f ops/commit, %.0f commits/s; CPU %.1f "
        "us/job)\n",
        label, f.jobs / f.seconds, f.jobs, f.seconds, static_cast<unsigned long long>(f.stats.commits),
        f.stats.commits ? static_cast<double>(f.stats.ops) / static_cast<double>(f.stats.commits) : 0.0,
        f.stats.commits / f.seconds, f.cpu * 1e6 / static_cast<double>(f.jobs));
}

bench_options parse(int argc, char** argv) {
    bench_options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                die("missing value after " + std::string(a));
            }
            return argv[++i];
        };
        if (a == "--dir") {
            o.dir = value();
        } else if (a == "--queued") {
            o.queued = std::stoul(value());
        } else if (a == "--jobs") {
            o.grouped_jobs = std::stoul(value());
        } else if (a == "--single-jobs") {
            o.single_jobs = std::stoul(value());
        } else if (a == "--dispatchers") {
            o.dispatchers = std::stoul(value());
        } else if (a == "--claim-size") {
            o.claim_size = std::stoul(value());
        } else if (a == "--max-group") {
            o.max_group_ops = std::stoul(value());
        } else if (a == "--profile") {
            o.profile = true;
        } else if (a == "--target") {
            o.target = std::stod(value());
        } else {
            die("usage: msgflash-queue-bench [--dir D] [--queued N] [--jobs N] [--single-jobs N] "
                "[--dispatchers N] [--claim-size N] [--max-group N] [--target JOBS_PER_S] [--profile]");
        }
    }
    if (o.grouped_jobs + o.single_jobs > o.queued) {
        die("--jobs + --single-jobs must not exceed --queued");
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const bench_options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);
    const auto db = o.dir / "queue-bench.db";
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(db.string() + suffix);
    }
    std::printf("database: %s (WAL, synchronous=FULL)\n", db.c_str());
    std::printf(
        "(a): %zu dispatcher coroutines on one io_context, claims of %zu jobs, one result operation per "
        "job\n",
        o.dispatchers, o.claim_size);

    run_figures single;
    run_figures grouped;
    {
        auto s = open(db, store_options{}.max_group_ops);
        fill(*s, o.queued);
    }
    {
        auto s = open(db, 1);  // (b) first, while the queue is at its fullest
        single = run_single(*s, o);
    }
    {
        auto s = open(db, o.max_group_ops);
        statement_profile prof;
        if (o.profile) {
            (void)s->submit([&](write_context& w) {
                ::sqlite3_trace_v2(w.handle(), SQLITE_TRACE_PROFILE, &statement_profile::on_trace, &prof);
                prof.pages_written = -pages_written(w.handle());
            });
        }
        grouped = run_grouped(*s, o);
        if (o.profile) {
            (void)s->submit([&](write_context& w) {
                ::sqlite3_trace_v2(w.handle(), 0, nullptr, nullptr);
                prof.pages_written += pages_written(w.handle());
            });
            prof.print(grouped.jobs);
        }
        std::printf("largest group: %llu operations in one transaction\n",
                    static_cast<unsigned long long>(s->stats().max_group));
    }
    if (grouped.errors + single.errors > 0) {
        die(std::to_string(grouped.errors + single.errors) + " operations failed");
    }
    std::printf("\n");
    print("(a) group commit, synchronous=FULL", grouped);
    print("(b) one transaction per operation, synchronous=FULL", single);
    const double a = grouped.jobs / grouped.seconds;
    const double b = single.jobs / single.seconds;
    std::printf("%-58s %9.1fx\n", "ratio (a)/(b)", a / b);
    std::printf("%-58s %9.0f jobs/s\n", "target for (a)", o.target);
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(db.string() + suffix);
    }
    std::printf("queue_jobs_per_s: %.0f\n", a);
    return a >= o.target ? 0 : 1;
}
