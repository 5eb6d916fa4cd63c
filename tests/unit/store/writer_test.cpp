// The writer thread: group commit (many callers, few transactions), savepoint isolation inside a group, a
// lost transaction, chunked operations, completion on the caller's executor, closing.
#include <atomic>
#include <future>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sqlite3.h>

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

namespace asio = boost::asio;

class StoreWriter : public store_fixture {
  protected:
    void SetUp() override {
        store_fixture::SetUp();
        ASSERT_TRUE(store_->submit(
            [](write_context& w) { w.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"); }));
    }

    // Blocks the writer thread until release() so that what is submitted meanwhile forms one group.
    void hold_writer() {
        std::promise<void> running;
        auto started = running.get_future();
        store_->async_submit(
            [this, &running](write_context&) {
                running.set_value();
                gate_.get_future().wait();
            },
            [](store_result<void>) {});
        started.wait();
    }
    void release() { gate_.set_value(); }

    static auto insert(std::int64_t k) {
        return [k](write_context& w) {
            w.prepared("INSERT INTO t(k, v) VALUES (?1, 'x')").bind(1, k).run();
            return k;
        };
    }

    std::promise<void> gate_;
};

TEST_F(StoreWriter, ManyConcurrentCallersShareCommits) {
    constexpr int threads = 4;
    constexpr int per_thread = 300;
    constexpr int coroutines = 100;
    constexpr int per_coroutine = 5;
    const writer_stats before = store_->stats();

    std::atomic<int> ok{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                if (auto r = store_->submit(insert(t * 100'000 + i)); r && *r == t * 100'000 + i) {
                    ++ok;
                }
            }
        });
    }
    asio::io_context io;
    const auto io_thread = std::this_thread::get_id();
    std::atomic<int> wrong_thread{0};
    for (int c = 0; c < coroutines; ++c) {
        asio::co_spawn(
            io,
            [&, c]() -> asio::awaitable<void> {
                for (int i = 0; i < per_coroutine; ++i) {
                    auto r =
                        co_await store_->async_submit(insert(1'000'000 + c * 100 + i), asio::use_awaitable);
                    if (std::this_thread::get_id() != io_thread) {
                        ++wrong_thread;  // completions come back on the caller's executor
                    }
                    if (r) {
                        ++ok;
                    }
                }
            },
            asio::detached);
    }
    io.run();
    for (auto& w : workers) {
        w.join();
    }
    const int total = threads * per_thread + coroutines * per_coroutine;
    EXPECT_EQ(ok.load(), total);
    EXPECT_EQ(wrong_thread.load(), 0);
    const writer_stats after = store_->stats();
    const auto commits = after.commits - before.commits;
    EXPECT_EQ(after.ops - before.ops, static_cast<std::uint64_t>(total));
    // Four blocking threads alone would make groups of at most four; the coroutines make them larger.
    EXPECT_LT(commits, static_cast<std::uint64_t>(total) / 2) << "group commit should share transactions";
    EXPECT_GT(after.max_group, 4u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM t"), total);
}

TEST_F(StoreWriter, OneTransactionForEverythingPending) {
    hold_writer();
    const auto before = store_->stats().commits;
    constexpr int n = 300;
    std::vector<std::future<store_result<std::int64_t>>> results;
    for (int i = 0; i < n; ++i) {
        auto p = std::make_shared<std::promise<store_result<std::int64_t>>>();
        results.push_back(p->get_future());
        store_->async_submit(insert(i), [p](store_result<std::int64_t> r) { p->set_value(std::move(r)); });
    }
    release();
    for (auto& f : results) {
        EXPECT_TRUE(f.get());
    }
    // The gate's own transaction, then one for all 300.
    EXPECT_EQ(store_->stats().commits - before, 2u);
    EXPECT_GE(store_->stats().max_group, static_cast<std::uint64_t>(n));
}

TEST_F(StoreWriter, AFailingOperationDoesNotPoisonItsGroup) {
    hold_writer();
    const auto before = store_->stats();
    auto f1 = std::async(std::launch::async, [&] { return store_->submit(insert(1)); });
    std::this_thread::sleep_for(20ms);
    auto f2 = std::async(std::launch::async, [&] { return store_->submit(insert(1)); });  // duplicate key
    std::this_thread::sleep_for(20ms);
    auto f3 = std::async(std::launch::async, [&] {
        return store_->submit([](write_context& w) -> std::int64_t {
            insert(3)(w);
            throw std::runtime_error("changed my mind");
        });
    });
    std::this_thread::sleep_for(20ms);
    auto f4 = std::async(std::launch::async, [&] { return store_->submit(insert(2)); });
    std::this_thread::sleep_for(20ms);
    release();
    auto r1 = f1.get();
    auto r2 = f2.get();
    auto r3 = f3.get();
    auto r4 = f4.get();
    EXPECT_TRUE(r1);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code.category(), sqlite_category());
    EXPECT_EQ(r2.error().code.value() & 0xff, SQLITE_CONSTRAINT) << r2.error().message();
    ASSERT_FALSE(r3);
    EXPECT_EQ(r3.error().code, make_error_code(store_errc::operation_failed));
    EXPECT_NE(r3.error().message().find("changed my mind"), std::string::npos);
    EXPECT_TRUE(r4);
    const auto after = store_->stats();
    EXPECT_EQ(after.commits - before.commits, 2u);  // the gate's, then one for all four
    EXPECT_EQ(after.failed_ops - before.failed_ops, 2u);
    store_.reset();
    EXPECT_EQ(text_scalar(db_, "SELECT group_concat(k) FROM (SELECT k FROM t ORDER BY k)"), "1,2");
}

TEST_F(StoreWriter, ALostTransactionFailsWhatRanAndRetriesTheRest) {
    hold_writer();
    auto f1 = std::async(std::launch::async, [&] { return store_->submit(insert(10)); });
    std::this_thread::sleep_for(20ms);
    auto f2 = std::async(std::launch::async, [&] {
        return store_->submit([](write_context& w) {
            // What SQLite does on an I/O error or a full disk: the whole transaction is rolled back.
            w.exec("ROLLBACK");
            throw_store_error(store_errc::operation_failed, "simulated I/O error");
        });
    });
    std::this_thread::sleep_for(20ms);
    auto f3 = std::async(std::launch::async, [&] { return store_->submit(insert(11)); });
    std::this_thread::sleep_for(20ms);
    release();
    auto r1 = f1.get();
    ASSERT_FALSE(r1);
    EXPECT_EQ(r1.error().code, make_error_code(store_errc::transaction_lost));
    EXPECT_FALSE(f2.get());
    EXPECT_TRUE(f3.get());  // never ran in the lost group: run again in the next
    EXPECT_EQ(store_->stats().lost_groups, 1u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM t WHERE k = 10"), 0);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM t WHERE k = 11"), 1);
}

TEST_F(StoreWriter, ChunkedOperationsCommitEachChunkAndLetOthersIn) {
    struct five_chunks {
        int done = 0;
        chunk_step<int> operator()(write_context& w) {
            insert(500 + done)(w);
            ++done;
            return {done < 5, done};
        }
    };
    const auto before = store_->stats().commits;
    auto r = store_->submit(five_chunks{});
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 5);
    EXPECT_GE(store_->stats().commits - before, 5u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM t WHERE k BETWEEN 500 AND 504"), 5);
}

TEST_F(StoreWriter, BlockingCallOnTheWriterThreadIsRefused) {
    auto r = store_->submit([this](write_context&) {
        auto inner = store_->submit([](write_context&) { return 1; });
        return inner ? 0 : static_cast<int>(inner.error().code.value());
    });
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, static_cast<int>(store_errc::wrong_thread));
}

TEST_F(StoreWriter, ClosingCompletesPendingWorkThenRefuses) {
    hold_writer();
    auto p = std::make_shared<std::promise<store_result<std::int64_t>>>();
    auto f = p->get_future();
    store_->async_submit(insert(7), [p](store_result<std::int64_t> r) { p->set_value(std::move(r)); });
    std::thread closer([&] { store_->close(); });
    std::this_thread::sleep_for(20ms);
    release();
    closer.join();
    EXPECT_TRUE(f.get());  // submitted before close: done
    auto late = store_->submit(insert(8));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code, make_error_code(store_errc::closed));
}

TEST_F(StoreWriter, CounterChangesOfARolledBackOperationAreDropped) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b"), 10));
    hold_writer();
    // In one group: a claim that commits; a claim that writes the pending counters mid-way and then fails; a
    // claim that fails without writing them. Only the first one's counts may survive.
    auto ok = std::async(std::launch::async, [&] {
        return store_->submit(claim_jobs{claim_request{.account = "shop", .max_jobs = 2, .now = t0}});
    });
    std::this_thread::sleep_for(20ms);
    auto flushed = std::async(std::launch::async, [&] {
        return store_->submit([](write_context& w) -> int {
            claim_jobs{claim_request{.account = "shop", .max_jobs = 3, .now = t0}}(w);
            w.flush_totals();
            throw std::runtime_error("after the flush");
        });
    });
    std::this_thread::sleep_for(20ms);
    auto staged = std::async(std::launch::async, [&] {
        return store_->submit([](write_context& w) -> int {
            claim_jobs{claim_request{.account = "shop", .max_jobs = 4, .now = t0}}(w);
            throw std::runtime_error("before any flush");
        });
    });
    std::this_thread::sleep_for(20ms);
    release();
    ASSERT_TRUE(ok.get());
    EXPECT_FALSE(flushed.get());
    EXPECT_FALSE(staged.get());
    auto b = store_->submit(get_batch{.id = "b"});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->counts.inflight, 2);
    EXPECT_EQ(b->counts.ready, 8);
    EXPECT_EQ(b->counts.total, 10);
    // (The fixture's TearDown checks every counter against the jobs table.)
}

TEST_F(StoreWriter, AnIngestIsATransactionOfItsOwn) {
    hold_writer();
    const auto before = store_->stats().groups;
    auto a = std::async(std::launch::async, [&] { return store_->submit(insert(1)); });
    std::this_thread::sleep_for(20ms);
    auto session = store_->begin_ingest({.now = t0, .source = "f.json"});
    std::this_thread::sleep_for(20ms);
    auto b = std::async(std::launch::async, [&] { return store_->submit(insert(2)); });
    std::this_thread::sleep_for(20ms);
    const auto index = session->begin_batch(make_batch("f"));
    session->add_job(index, make_job(1));
    session->abort("bad file");
    release();
    EXPECT_TRUE(a.get());
    EXPECT_TRUE(b.get());
    EXPECT_FALSE(session->finish());
    // insert(1); the ingest alone (rolled back); insert(2).
    EXPECT_EQ(store_->stats().groups - before, 3u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM t"), 2);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM batches"), 0);
}

}  // namespace
}  // namespace msgflash::store::test
