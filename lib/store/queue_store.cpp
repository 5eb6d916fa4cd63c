#include "store/queue_store.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "store/queue_ops.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace msgflash::store {
namespace detail {

namespace {

// SQLite keeps at most this much WAL on disk after a checkpoint has reset it.
constexpr std::int64_t wal_size_limit_bytes = std::int64_t{64} << 20;

store_error current_error() noexcept {
    try {
        throw;
    } catch (const store_exception& e) {
        return e.error();
    } catch (const std::exception& e) {
        return make_store_error(store_errc::operation_failed, e.what());
    } catch (...) {
        return make_store_error(store_errc::operation_failed, "unknown exception");
    }
}

int count_commit(void* counter) {
    static_cast<std::atomic<std::uint64_t>*>(counter)->fetch_add(1, std::memory_order_relaxed);
    return 0;  // 0: let the commit proceed
}

}  // namespace

struct writer_impl {
    explicit writer_impl(store_options o)
        : options(std::move(o)), log(options.logger ? options.logger : spdlog::default_logger()) {}

    store_options options;
    std::shared_ptr<spdlog::logger> log;

    std::mutex m;
    std::condition_variable cv;
    std::deque<std::unique_ptr<write_op>> queue;
    bool stopping = false;

    std::thread thread;
    std::atomic<std::thread::id> thread_id{};

    connection db;
    std::unique_ptr<write_context> ctx;
    recovery_report recovered;

    std::atomic<std::uint64_t> groups{0};
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> ops{0};
    std::atomic<std::uint64_t> failed_ops{0};
    std::atomic<std::uint64_t> max_group{0};
    std::atomic<std::uint64_t> lost_groups{0};
    std::array<std::atomic<std::uint64_t>, commit_latency_bounds_us.size() + 1> commit_latency{};
    std::atomic<std::uint64_t> commit_latency_sum_us{0};

    void note_commit(std::chrono::steady_clock::duration took) {
        const auto us = static_cast<std::uint64_t>(
            std::max<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count(), 0));
        std::size_t b = 0;
        while (b < commit_latency_bounds_us.size() && us > commit_latency_bounds_us[b]) {
            ++b;
        }
        commit_latency[b].fetch_add(1, std::memory_order_relaxed);
        commit_latency_sum_us.fetch_add(us, std::memory_order_relaxed);
    }

    void setup() {
        db = connection(options.path, connection::mode::read_write_create);
        apply_common_pragmas(db, static_cast<int>(options.busy_timeout.count()), options.cache_kib);
        if (db.query_text("PRAGMA journal_mode = WAL") != "wal") {
            throw_store_error(store_errc::not_wal, "enabling WAL on " + options.path.string());
        }
        // DESIGN: durable before acknowledged — every commit fsyncs the WAL.
        db.exec("PRAGMA synchronous = FULL");
        // Debian builds SQLite with secure_delete on; FAST keeps freed content from lingering without the
        // extra writes.
        db.exec("PRAGMA secure_delete = FAST");
        const std::string limit = "PRAGMA journal_size_limit = " + std::to_string(wal_size_limit_bytes);
        db.exec(limit.c_str());
        ::sqlite3_commit_hook(db.get(), &count_commit, &commits);
        migrate(db, to_millis(options.now));
        // Ingest's memory of the numbers seen in the batches being read, with the ref that came first for
        // each (ingest.cpp); the temp database lives in a file (the build's TEMP_STORE=1), so it stays out of
        // RAM.
        db.exec(
            "CREATE TEMP TABLE ingest_seen_to (batch_id INTEGER NOT NULL, to_number TEXT NOT NULL, "
            "ref TEXT NOT NULL, PRIMARY KEY (batch_id, to_number)) WITHOUT ROWID");
        ctx = std::make_unique<write_context>(db, options);
    }

    void main(std::promise<store_result<void>>& ready) {
        thread_id.store(std::this_thread::get_id());
        try {
            setup();
            // Recovery runs before any caller's operation: nothing can be claimed while evidence of a crash
            // is still inflight.
            std::vector<std::unique_ptr<write_op>> group;
            auto waiter = std::make_shared<blocking_completion<store_result<recovery_report>>>();
            group.push_back(std::make_unique<command_op<recover_inflight>>(
                recover_inflight{options.recovery, options.now},
                std::make_unique<shared_completion<store_result<recovery_report>>>(waiter)));
            run_group(group);
            auto r = waiter->wait();
            if (!r) {
                throw store_exception(r.error());
            }
            recovered = *r;
            if (recovered.inflight_found > 0) {
                log->warn(
                    "queue: {} job(s) were inflight when msgflashd stopped: recorded as ambiguous attempts "
                    "({} retried, {} held, {} dead)",
                    recovered.inflight_found, recovered.retried, recovered.held, recovered.dead);
            }
        } catch (...) {
            ctx.reset();
            db.close();
            ready.set_value(store_result<void>(boost::system::in_place_error, current_error()));
            return;
        }
        ready.set_value(store_result<void>());
        loop();
        ctx.reset();
        db.close();
    }

    void loop() {
        const std::size_t max_ops = std::max<std::size_t>(1, options.max_group_ops);
        for (;;) {
            std::vector<std::unique_ptr<write_op>> group;
            {
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) {
                    return;  // stopping, and nothing left
                }
                if (options.group_linger.count() > 0 && queue.size() < max_ops && !stopping) {
                    cv.wait_for(lock, options.group_linger,
                                [&] { return stopping || queue.size() >= max_ops; });
                }
                // An exclusive operation forms a group of its own; the others go together up to max_ops.
                const bool alone = queue.front()->exclusive();
                while (!queue.empty() && group.size() < max_ops &&
                       (group.empty() || (!alone && !queue.front()->exclusive()))) {
                    group.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
            }
            run_group(group);
        }
    }

    void exec_quietly(const char* sql) noexcept {
        if (::sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
            log->error("queue: `{}` failed: {}", sql, ::sqlite3_errmsg(db.get()));
        }
    }

    enum class fate { not_run, done, again, failed };

    // Runs group[i, j) as one under one savepoint. false: it failed and was rolled back; run them one by one.
    bool run_together(std::vector<std::unique_ptr<write_op>>& group, std::size_t i, std::size_t j,
                      std::vector<fate>& fates, std::optional<store_error>& lost) {
        std::vector<write_op*> batch;
        batch.reserve(j - i);
        for (std::size_t k = i; k < j; ++k) {
            batch.push_back(group[k].get());
        }
        ops.fetch_add(j - i, std::memory_order_relaxed);
        try {
            ctx->prepared("SAVEPOINT op").run();
        } catch (...) {
            lost = current_error();
            return true;
        }
        try {
            batch.front()->run_together(*ctx, batch);
            ctx->prepared("RELEASE op").run();
            ctx->op_succeeded();
            for (std::size_t k = i; k < j; ++k) {
                fates[k] = fate::done;
            }
            return true;
        } catch (...) {
            const store_error err = current_error();
            ctx->op_failed();
            ctx->invalidate_caches();
            if (::sqlite3_get_autocommit(db.get()) != 0) {
                lost = make_store_error(store_errc::transaction_lost,
                                        "the group's transaction was rolled back: " + err.message());
                for (std::size_t k = i; k < j; ++k) {
                    fates[k] = fate::failed;
                    group[k]->fail(err);
                }
                return true;
            }
            try {
                ctx->prepared("ROLLBACK TO op").run();
                ctx->prepared("RELEASE op").run();
            } catch (...) {
                lost = current_error();
                return true;
            }
            return false;
        }
    }

    // One transaction for the whole group; a savepoint per operation.
    void run_group(std::vector<std::unique_ptr<write_op>>& group) {
        groups.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t prev = max_group.load(std::memory_order_relaxed);
        while (group.size() > prev && !max_group.compare_exchange_weak(prev, group.size())) {
        }
        std::vector<fate> fates(group.size(), fate::not_run);
        std::optional<store_error> lost;
        // PRAGMA foreign_keys changes nothing inside a transaction: off before BEGIN, on again after it
        // ended.
        struct references_unchecked {
            writer_impl* w = nullptr;
            ~references_unchecked() {
                if (w != nullptr) {
                    w->exec_quietly("PRAGMA foreign_keys = ON");
                }
            }
        } unchecked;
        if (group.size() == 1 && group.front()->exclusive() &&
            group.front()->references_checked_by_itself()) {
            exec_quietly("PRAGMA foreign_keys = OFF");
            unchecked.w = this;
        }
        try {
            ctx->prepared("BEGIN IMMEDIATE").run();
        } catch (...) {
            lost = current_error();
        }
        const bool alone = group.size() == 1 && group.front()->exclusive();
        std::size_t one_by_one_until = 0;  // after a failed run_together: those ops go one by one
        for (std::size_t i = 0; i < group.size() && !lost; ++i) {
            write_op& op = *group[i];
            if (const void* key = op.batch_key(); key != nullptr && i >= one_by_one_until) {
                std::size_t j = i + 1;
                while (j < group.size() && group[j]->batch_key() == key) {
                    ++j;
                }
                if (j - i >= 2) {
                    if (run_together(group, i, j, fates, lost)) {
                        i = j - 1;
                        continue;
                    }
                    one_by_one_until = j;
                }
            }
            ops.fetch_add(1, std::memory_order_relaxed);
            try {
                if (!alone) {
                    ctx->prepared("SAVEPOINT op").run();
                }
            } catch (...) {
                lost = current_error();
                break;
            }
            try {
                const bool more = op.run(*ctx);
                if (!alone) {
                    ctx->prepared("RELEASE op").run();
                }
                ctx->op_succeeded();
                fates[i] = more ? fate::again : fate::done;
            } catch (...) {
                store_error err = current_error();
                failed_ops.fetch_add(1, std::memory_order_relaxed);
                ctx->op_failed();
                ctx->invalidate_caches();
                fates[i] = fate::failed;
                op.fail(err);
                if (alone) {
                    // Its own transaction: roll it back whole; nothing else was in it.
                    if (::sqlite3_get_autocommit(db.get()) == 0) {
                        exec_quietly("ROLLBACK");
                    }
                    ctx->transaction_ended();
                    group[i]->complete();
                    return;
                }
                if (::sqlite3_get_autocommit(db.get()) != 0) {
                    // SQLite itself rolled back the whole transaction (I/O error, disk full): the group is
                    // gone.
                    lost = make_store_error(store_errc::transaction_lost,
                                            "the group's transaction was rolled back: " + err.message());
                    break;
                }
                try {
                    ctx->prepared("ROLLBACK TO op").run();
                    ctx->prepared("RELEASE op").run();
                } catch (...) {
                    lost = current_error();
                }
            }
        }
        if (!lost) {
            try {
                ctx->before_commit();
                const auto began = std::chrono::steady_clock::now();
                ctx->prepared("COMMIT").run();
                note_commit(std::chrono::steady_clock::now() - began);
            } catch (...) {
                lost = current_error();
            }
        }
        ctx->transaction_ended();
        if (lost) {
            lost_groups.fetch_add(1, std::memory_order_relaxed);
            ctx->invalidate_caches();
            if (::sqlite3_get_autocommit(db.get()) == 0) {
                exec_quietly("ROLLBACK");
            }
            log->error("queue: a write transaction of {} operation(s) was lost: {}", group.size(),
                       lost->message());
        }
        std::vector<std::unique_ptr<write_op>> requeue_front;
        std::vector<std::unique_ptr<write_op>> requeue_back;
        for (std::size_t i = 0; i < group.size(); ++i) {
            switch (fates[i]) {
                case fate::not_run:
                    if (lost) {
                        requeue_front.push_back(std::move(group[i]));  // untouched: try them again
                    }
                    break;
                case fate::done:
                case fate::again:
                    if (lost) {
                        group[i]->fail(*lost);
                        group[i]->complete();
                    } else if (fates[i] == fate::again) {
                        requeue_back.push_back(std::move(group[i]));
                    } else {
                        group[i]->complete();
                    }
                    break;
                case fate::failed:
                    group[i]->complete();
                    break;
            }
        }
        if (!requeue_front.empty() || !requeue_back.empty()) {
            std::lock_guard lock(m);
            for (auto it = requeue_front.rbegin(); it != requeue_front.rend(); ++it) {
                queue.push_front(std::move(*it));
            }
            for (auto& op : requeue_back) {
                queue.push_back(std::move(op));
            }
        }
    }
};

}  // namespace detail

namespace {

// SQLite's allocation statistics take a global mutex on every malloc; Debian's build also has no lookaside
// allocator, so the writer mallocs a lot. Nothing reads those statistics: turn them off, once, before SQLite
// initializes (if something in the process already initialized it, the call fails and changes nothing).
//
// The statement journal (which also holds each operation's savepoint) stays in memory (-1: never spilled)
// instead of going to a temporary file past SQLite's 64 KiB: spilled, every page a savepoint copies costs two
// write(2)s — measured (bench/queue, strace) as five times the WAL's own writes. A spill limit of 4 MiB was
// not enough either: in bench/scale (1,000 keys, so up to 512 results of as many accounts under one
// savepoint, a few pages each) it spilled about once a second, and groups then failed with SQLITE_FULL
// ("database or disk is full") with 77 GB free and no failing system call (strace -Z): 2,000 to 18,000
// operations lost per minute in each of six runs, their results not recorded. Never spilled: none. Memory
// stays bounded per group: at most max_group_ops operations share a savepoint, bulk commands are chunked and
// an ingest runs without one. The journal is emptied when the savepoint is released.
constexpr int statement_journal_spill_bytes = -1;

void tune_sqlite_once() {
    static const int done = [] {
        ::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        ::sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, statement_journal_spill_bytes);
        return 0;
    }();
    (void)done;
}

}  // namespace

store_result<std::unique_ptr<queue_store>> queue_store::open(store_options options) {
    tune_sqlite_once();
    auto impl = std::make_unique<detail::writer_impl>(std::move(options));
    std::promise<store_result<void>> ready;
    auto started = ready.get_future();
    impl->thread = std::thread([p = impl.get(), &ready] { p->main(ready); });
    auto r = started.get();
    if (!r) {
        impl->thread.join();
        return r.error();
    }
    return std::unique_ptr<queue_store>(new queue_store(std::move(impl)));
}

queue_store::queue_store(std::unique_ptr<detail::writer_impl> impl) : impl_(std::move(impl)) {}

queue_store::~queue_store() {
    close();
}

void queue_store::close() {
    {
        std::lock_guard lock(impl_->m);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable() && !on_writer_thread()) {
        impl_->thread.join();
    }
}

const store_options& queue_store::options() const noexcept {
    return impl_->options;
}

const recovery_report& queue_store::recovery() const noexcept {
    return impl_->recovered;
}

writer_stats queue_store::stats() const noexcept {
    writer_stats s;
    s.groups = impl_->groups.load();
    s.commits = impl_->commits.load();
    s.ops = impl_->ops.load();
    s.failed_ops = impl_->failed_ops.load();
    s.max_group = impl_->max_group.load();
    s.lost_groups = impl_->lost_groups.load();
    for (std::size_t i = 0; i < s.commit_latency.size(); ++i) {
        s.commit_latency[i] = impl_->commit_latency[i].load(std::memory_order_relaxed);
    }
    s.commit_latency_sum_us = impl_->commit_latency_sum_us.load(std::memory_order_relaxed);
    return s;
}

void queue_store::enqueue(std::unique_ptr<detail::write_op> op) {
    {
        std::lock_guard lock(impl_->m);
        if (!impl_->stopping) {
            impl_->queue.push_back(std::move(op));
            impl_->cv.notify_one();
            return;
        }
    }
    op->fail(make_store_error(store_errc::closed, "the queue is closing"));
    op->complete();
}

bool queue_store::on_writer_thread() const noexcept {
    return impl_->thread_id.load() == std::this_thread::get_id();
}

}  // namespace msgflash::store
