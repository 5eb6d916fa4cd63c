// Ingest sessions: one transaction per file, idempotency on (batch, ref), conflicts on a batch id re-used
// with other content, duplicates by `to`, aborts that leave nothing behind, several batches per file,
// coroutines.
#include <map>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

namespace asio = boost::asio;

using StoreIngest = store_fixture;

TEST_F(StoreIngest, QueuesEveryJobInOneTransaction) {
    const auto before = store_->stats().commits;
    auto r = ingest_batch(*store_, make_batch("black-friday"), 10'000);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->batches.size(), 1u);
    EXPECT_EQ(r->inserted, 10'000u);
    EXPECT_EQ(r->already_present, 0u);
    EXPECT_EQ(r->batches[0].received, 10'000u);
    EXPECT_FALSE(r->batches[0].existed);
    EXPECT_EQ(store_->stats().commits - before, 1u);

    auto b = store_->submit(get_batch{.id = "black-friday"});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->counts.total, 10'000);
    EXPECT_EQ(b->counts.ready, 10'000);
    EXPECT_EQ(b->account, "shop");
    EXPECT_EQ(b->fingerprint, "fp-black-friday");
    EXPECT_EQ(b->instance_ids, std::vector<std::string>{"7c9e6679-7425-40de-944b-e07fc1f90ae7"});
    EXPECT_EQ(b->message_json, R"({"type":"text","body":"Hi {{name}}"})");
    EXPECT_EQ(b->state, batch_state::active);
    store_.reset();
    // The batch's single number is pinned on its jobs; fair_seq counts the batch's jobs in file order.
    EXPECT_EQ(
        scalar(db_, "SELECT count(*) FROM jobs WHERE instance_id = '7c9e6679-7425-40de-944b-e07fc1f90ae7'"),
        10'000);
    EXPECT_EQ(scalar(db_, "SELECT min(fair_seq) FROM jobs"), 1);
    EXPECT_EQ(scalar(db_, "SELECT max(fair_seq) FROM jobs"), 10'000);
}

// A campaign file's one job creates the campaign and has no recipient of its own: only such a batch may
// queue a job without a `to`.
TEST_F(StoreIngest, OnlyACampaignBatchQueuesAJobWithoutATo) {
    auto queued = ingest_recipientless(*store_, make_campaign_batch("spring"));
    ASSERT_TRUE(queued) << queued.error().message();
    EXPECT_EQ(queued->inserted, 1u);
    auto refused = ingest_recipientless(*store_, make_batch("not-a-campaign"));
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("needs a ref and a to"), std::string::npos);
}

TEST_F(StoreIngest, TheSameFileTwiceQueuesNothingTheSecondTime) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b1"), 500));
    auto again = ingest_batch(*store_, make_batch("b1"), 500);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(again->inserted, 0u);
    EXPECT_EQ(again->already_present, 500u);
    EXPECT_TRUE(again->batches[0].existed);
    EXPECT_FALSE(again->batches[0].conflict);
    // The same batch id from a file of another name (the fingerprint is of the content, not the name).
    auto renamed = make_batch("b1");
    renamed.source_file = "copy-of-b1.json";
    auto third = ingest_batch(*store_, renamed, 500);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->inserted, 0u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs"), 500);
    EXPECT_EQ(scalar(db_, "SELECT total FROM batch_counters"), 500);
}

TEST_F(StoreIngest, SameBatchIdWithOtherContentIsAConflict) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b1"), 100));
    auto other = make_batch("b1");
    other.fingerprint = "fp-something-else";
    auto r = ingest_batch(*store_, other, 200, t0, "+4479");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::batch_conflict));
    EXPECT_NE(r.error().message().find("fp-b1"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("fp-something-else"), std::string::npos);
    // A conflict under skip_batch: reported, other batches of the file still go in.
    auto s = store_->begin_ingest(
        {.now = t0, .on_conflict = conflict_policy::skip_batch, .source = "mixed.ndjson"});
    const auto bad = s->begin_batch(other);
    const auto good = s->begin_batch(make_batch("b2"));
    for (std::size_t i = 0; i < 10; ++i) {
        s->add_job(bad, make_job(i, "+4479"));
        s->add_job(good, make_job(i));
    }
    auto mixed = s->finish();
    ASSERT_TRUE(mixed) << mixed.error().message();
    EXPECT_TRUE(mixed->batches[0].conflict);
    EXPECT_EQ(mixed->batches[0].stored_fingerprint, "fp-b1");
    EXPECT_EQ(mixed->batches[0].inserted, 0u);
    EXPECT_EQ(mixed->batches[0].received, 10u);
    EXPECT_EQ(mixed->batches[1].inserted, 10u);
    EXPECT_EQ(mixed->conflicts, 1u);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs WHERE to_number LIKE '+4479%'"), 0);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs"), 110);
}

TEST_F(StoreIngest, AnEmptyFingerprintAddsToTheBatch) {
    // Line files: each line is its own job, several files may feed one batch id.
    auto b = make_batch("otp-2026-11-22");
    b.fingerprint.clear();
    ASSERT_TRUE(ingest_batch(*store_, b, 10));
    auto more = ingest_batch(*store_, b, 20);  // the first 10 again, then 10 new
    ASSERT_TRUE(more);
    EXPECT_EQ(more->inserted, 10u);
    EXPECT_EQ(more->already_present, 10u);
}

TEST_F(StoreIngest, SameBatchIdForAnotherAccountIsAConflict) {
    ASSERT_TRUE(ingest_batch(*store_, make_batch("b1", "shop"), 10));
    auto r = ingest_batch(*store_, make_batch("b1", "other"), 10);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::batch_conflict));
}

TEST_F(StoreIngest, ARepeatedNumberIsQueuedOnceUnlessDuplicatesAreAllowed) {
    auto s = store_->begin_ingest({.now = t0});
    const auto b = s->begin_batch(make_batch("dups"));
    auto add = [&](std::string ref, std::string to) {
        job_spec j;
        j.ref = std::move(ref);
        j.to = std::move(to);
        s->add_job(b, std::move(j));
    };
    add("+33600000001", "+33600000001");
    add("+33600000001", "+33600000001");  // same ref: the identity catches it (already present)
    add("cust-1", "+33600000001");        // another ref, same number: a duplicate
    add("cust-2", "+33600000002");
    add("+33600000002", "+33600000002");  // default ref after an explicit one with that number
    add("cust-3", "+33600000003");
    auto r = s->finish();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->inserted, 3u);
    EXPECT_EQ(r->already_present, 1u);
    EXPECT_EQ(r->duplicates, 2u);
    // Deterministic: dropping the same file again gives the same jobs.
    auto s2 = store_->begin_ingest({.now = t0});
    const auto b2 = s2->begin_batch(make_batch("dups"));
    for (auto [ref, to] : std::vector<std::pair<std::string, std::string>>{{"+33600000001", "+33600000001"},
                                                                           {"cust-1", "+33600000001"},
                                                                           {"cust-2", "+33600000002"},
                                                                           {"+33600000002", "+33600000002"},
                                                                           {"cust-3", "+33600000003"}}) {
        s2->add_job(b2, job_spec{.ref = ref, .to = to});
    }
    auto r2 = s2->finish();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->inserted, 0u);

    auto allow = make_batch("allowed");
    allow.allow_duplicates = true;
    auto s3 = store_->begin_ingest({.now = t0});
    const auto b3 = s3->begin_batch(allow);
    s3->add_job(b3, job_spec{.ref = "a", .to = "+33600000001"});
    s3->add_job(b3, job_spec{.ref = "b", .to = "+33600000001"});
    auto r3 = s3->finish();
    ASSERT_TRUE(r3);
    EXPECT_EQ(r3->inserted, 2u);
}

TEST_F(StoreIngest, DuplicateNumbersAreFoundInMemoryAndPastItsBudget) {
    // 30,000 jobs, one batch: exact repeats of an earlier job (already present), new refs with an earlier
    // number (duplicates, also of numbers that are not E.164 and so live in the temp table), and new jobs;
    // the repeats reach back across chunks and across the in-memory set's growth. With the default budget and
    // with one so small that most numbers spill to the temp table, the verdicts are the same, and the same
    // file again gives the same duplicates.
    struct line {
        std::string ref;
        std::string to;
    };
    std::vector<line> file;
    for (std::size_t i = 0; i < 30'000; ++i) {
        const std::size_t back = 1 + (i * 7919) % std::max<std::size_t>(1, std::min<std::size_t>(i, 9'000));
        if (i >= 10 && i % 10 == 0) {
            file.push_back(file[i - back]);  // the same job again
        } else if (i >= 10 && i % 10 == 3) {
            file.push_back({"new-" + std::to_string(i), file[i - back].to});  // another ref, a known number
        } else if (i % 10 == 7) {
            file.push_back(
                {"client-" + std::to_string(i), "client-number-" + std::to_string(i)});  // not E.164
        } else {
            file.push_back({"c-" + std::to_string(i), "+4479" + std::to_string(10'000'000 + i)});
        }
    }
    // The model: a number first brought by another ref is a duplicate; otherwise a ref queued is present.
    std::size_t inserted = 0;
    std::size_t present = 0;
    std::size_t duplicates = 0;
    std::map<std::string, std::string> first_ref;
    std::set<std::string> queued;
    for (const line& l : file) {
        const auto [it, first] = first_ref.emplace(l.to, l.ref);
        if (!first && it->second != l.ref) {
            ++duplicates;
        } else if (queued.insert(l.ref).second) {
            ++inserted;
        } else {
            ++present;
        }
    }
    ASSERT_GT(duplicates, 1'000u);
    ASSERT_GT(present, 1'000u);
    for (const std::size_t seen_kib : {std::size_t{16 * 1024}, std::size_t{2}}) {
        SCOPED_TRACE(seen_kib);
        store_options o = options_for(db_);
        o.ingest_seen_kib = seen_kib;
        o.ingest_chunk_jobs = 1'000;
        reopen(o);
        const std::string id = "dups-" + std::to_string(seen_kib);
        for (int pass = 0; pass < 2; ++pass) {
            auto s = store_->begin_ingest({.now = t0});
            const auto b = s->begin_batch(make_batch(id));
            for (const line& l : file) {
                s->add_job(b, job_spec{.ref = l.ref, .to = l.to});
                if (s->should_flush()) {
                    ASSERT_TRUE(s->flush());
                }
            }
            auto r = s->finish();
            ASSERT_TRUE(r) << r.error().message();
            EXPECT_EQ(r->duplicates, duplicates);
            if (pass == 0) {
                EXPECT_EQ(r->inserted, inserted);
                EXPECT_EQ(r->already_present, present);
            } else {
                EXPECT_EQ(r->inserted, 0u);
                EXPECT_EQ(r->already_present, inserted + present);
            }
        }
        auto info = store_->submit(get_batch{.id = id});
        ASSERT_TRUE(info);
        EXPECT_EQ(info->counts.total, static_cast<std::int64_t>(inserted));
    }
}

TEST_F(StoreIngest, EveryRowIsCountedWhateverTheMixInAChunk) {
    // Runs of jobs change batch and initial state often, refs repeat inside one multi-row INSERT, and
    // explicit refs make the duplicate check read the jobs table between buffered rows.
    auto a = make_batch("mix-a");
    auto b = make_batch("mix-b");
    b.fingerprint.clear();
    auto s = store_->begin_ingest({.now = t0, .source = "mix.ndjson"});
    const auto ia = s->begin_batch(a);
    const auto ib = s->begin_batch(b);
    std::size_t expected_a = 0;
    std::set<std::string> refs_a;
    std::set<std::string> tos_b;
    std::size_t expected_b = 0;
    std::size_t waiting_a = 0;
    for (std::size_t i = 0; i < 500; ++i) {
        if (i % 7 == 3) {
            job_spec j;
            j.ref = "cust-" + std::to_string(i % 40);
            j.to = "+4479" + std::to_string(1'000'000 + i % 60);
            if (tos_b.insert(j.to).second) {
                ++expected_b;  // (ref, to) pairs: a repeated number is a duplicate, a repeated ref present
            }
            s->add_job(ib, std::move(j));
            continue;
        }
        job_spec j = make_job(i % 150);  // refs repeat
        if (i % 5 == 0) {
            j.send_at = t0 + 1h;
        }
        if (refs_a.insert(j.ref).second) {
            ++expected_a;
            waiting_a += i % 5 == 0 ? 1 : 0;
        }
        s->add_job(ia, std::move(j));
    }
    auto r = s->finish();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->batches[0].inserted, expected_a);
    EXPECT_EQ(r->batches[0].inserted + r->batches[0].already_present, r->batches[0].received);
    EXPECT_LE(r->batches[1].inserted, expected_b);
    EXPECT_EQ(r->batches[1].inserted + r->batches[1].already_present + r->batches[1].duplicates,
              r->batches[1].received);
    auto info = store_->submit(get_batch{.id = "mix-a"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.total, static_cast<std::int64_t>(expected_a));
    EXPECT_EQ(info->counts.waiting, static_cast<std::int64_t>(waiting_a));
    // The same file again: nothing new, and the same verdicts.
    auto s2 = store_->begin_ingest({.now = t0, .source = "mix.ndjson"});
    const auto ia2 = s2->begin_batch(a);
    const auto ib2 = s2->begin_batch(b);
    for (std::size_t i = 0; i < 500; ++i) {
        if (i % 7 == 3) {
            s2->add_job(ib2, job_spec{.ref = "cust-" + std::to_string(i % 40),
                                      .to = "+4479" + std::to_string(1'000'000 + i % 60)});
            continue;
        }
        job_spec j = make_job(i % 150);
        if (i % 5 == 0) {
            j.send_at = t0 + 1h;
        }
        s2->add_job(ia2, std::move(j));
    }
    auto r2 = s2->finish();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->inserted, 0u);
    EXPECT_EQ(r2->batches[1].duplicates, r->batches[1].duplicates);
}

TEST_F(StoreIngest, AnAbortedFileLeavesNothing) {
    store_options o = options_for(db_);
    o.ingest_chunk_jobs = 100;
    reopen(o);
    auto s = store_->begin_ingest({.now = t0, .source = "broken.json"});
    const auto b = s->begin_batch(make_batch("broken"));
    for (std::size_t i = 0; i < 1'000; ++i) {
        s->add_job(b, make_job(i));
        if (s->should_flush()) {
            ASSERT_TRUE(s->flush());
        }
    }
    s->abort("unexpected end of JSON at line 1002");
    auto r = s->finish();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::ingest_aborted));
    EXPECT_NE(r.error().message().find("line 1002"), std::string::npos);
    // A session dropped unfinished is aborted too.
    {
        auto dropped = store_->begin_ingest({.now = t0});
        dropped->add_job(dropped->begin_batch(make_batch("dropped")), make_job(1));
        ASSERT_TRUE(dropped->flush());
    }
    // The writer goes on.
    ASSERT_TRUE(ingest_batch(*store_, make_batch("fine"), 5));
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM batches"), 1);
    EXPECT_EQ(scalar(db_, "SELECT count(*) FROM jobs"), 5);
}

TEST_F(StoreIngest, ForeignKeysAreCheckedAgainAfterAnIngest) {
    // The ingest runs with foreign keys off (its references are its own); every other write has them on,
    // whether the ingest committed or failed.
    auto references_checked = [&] {
        return store_->submit([](write_context& w) {
            statement st(w.handle(), "PRAGMA foreign_keys");
            return st.step() ? st.int64(0) : -1;
        });
    };
    auto orphan = [&] {
        return store_->submit([](write_context& w) {
            w.exec(
                "INSERT INTO jobs(batch_id, ref, to_number, state, next_attempt_at, fair_seq, account_id, "
                "priority, created_at, updated_at) VALUES (999, 'x', '+33600000001', 'ready', 0, 1, 999, 0, "
                "0, "
                "0)");
        });
    };
    ASSERT_TRUE(ingest_batch(*store_, make_batch("fk-ok"), 10));
    auto on = references_checked();
    ASSERT_TRUE(on);
    EXPECT_EQ(*on, 1);
    EXPECT_FALSE(orphan());  // a job of no batch is refused
    auto s = store_->begin_ingest({.now = t0});
    s->add_job(s->begin_batch(make_batch("fk-aborted")), make_job(1));
    ASSERT_TRUE(s->flush());
    s->abort("bad file");
    ASSERT_FALSE(s->finish());
    on = references_checked();
    ASSERT_TRUE(on);
    EXPECT_EQ(*on, 1);
    EXPECT_FALSE(orphan());
}

TEST_F(StoreIngest, AStalledProducerTimesOut) {
    store_options o = options_for(db_);
    o.ingest_idle_timeout = 100ms;
    reopen(o);
    auto s = store_->begin_ingest({.now = t0, .source = "slow.json"});
    s->begin_batch(make_batch("slow"));
    ASSERT_TRUE(s->flush());
    std::this_thread::sleep_for(300ms);
    auto r = s->finish();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::ingest_timeout));
}

TEST_F(StoreIngest, SeveralBatchesInOneFile) {
    auto s = store_->begin_ingest({.now = t0, .source = "lines.ndjson"});
    const auto a = s->begin_batch(make_batch("a"));
    const auto b = s->begin_batch(make_batch("b", "other", 5));
    for (std::size_t i = 0; i < 30; ++i) {
        s->add_job(i % 2 == 0 ? a : b, make_job(i));
    }
    auto r = s->finish();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->batches[0].inserted, 15u);
    EXPECT_EQ(r->batches[1].inserted, 15u);
    store_.reset();
    EXPECT_EQ(
        scalar(db_,
               "SELECT count(*) FROM jobs j JOIN accounts a ON a.id = j.account_id WHERE a.name = 'other' "
               "AND j.priority = 5"),
        15);
}

TEST_F(StoreIngest, FutureSendAtWaitsAndPerJobOverridesApply) {
    auto batch = make_batch("later");
    batch.send_at = t0 + 1h;
    batch.expires_at = t0 + 10h;
    auto s = store_->begin_ingest({.now = t0});
    const auto b = s->begin_batch(batch);
    s->add_job(b, make_job(1));
    auto now_job = make_job(2);
    now_job.send_at = t0 - 1min;
    now_job.priority = 9;
    now_job.instance_id = "other-number";
    s->add_job(b, now_job);
    auto r = s->finish();
    ASSERT_TRUE(r);
    auto info = store_->submit(get_batch{.id = "later"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.waiting, 1);
    EXPECT_EQ(info->counts.ready, 1);
    EXPECT_EQ(info->send_at, t0 + 1h);
    store_.reset();
    EXPECT_EQ(scalar(db_, "SELECT next_attempt_at FROM jobs WHERE state = 'waiting'"), to_millis(t0 + 1h));
    EXPECT_EQ(scalar(db_, "SELECT priority FROM jobs WHERE state = 'ready'"), 9);
    EXPECT_EQ(text_scalar(db_, "SELECT instance_id FROM jobs WHERE state = 'ready'"), "other-number");
    EXPECT_EQ(
        scalar(db_, "SELECT count(*) FROM jobs WHERE expires_at = " + std::to_string(to_millis(t0 + 10h))),
        2);
}

TEST_F(StoreIngest, FromACoroutine) {
    store_options o = options_for(db_);
    o.ingest_chunk_jobs = 64;
    o.ingest_channel_chunks = 2;
    reopen(o);
    asio::io_context io;
    store_result<ingest_report> result = make_store_error(store_errc::operation_failed);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto s = store_->begin_ingest({.now = t0, .source = "async.json"});
            const auto b = s->begin_batch(make_batch("async"));
            for (std::size_t i = 0; i < 5'000; ++i) {
                s->add_job(b, make_job(i));
                if (s->should_flush()) {
                    auto f = co_await s->async_flush(asio::use_awaitable);
                    if (!f) {
                        result = f.error();
                        co_return;
                    }
                }
            }
            result = co_await s->async_finish(asio::use_awaitable);
        },
        asio::detached);
    io.run();
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->inserted, 5'000u);
}

TEST_F(StoreIngest, NewJobsOfAPausedOrCancelledBatchStayOutOfLine) {
    auto b = make_batch("paused");
    b.fingerprint.clear();
    ASSERT_TRUE(ingest_batch(*store_, b, 5));
    ASSERT_TRUE(store_->submit(pause_batch("paused", t0)));
    ASSERT_TRUE(ingest_batch(*store_, b, 10));
    auto info = store_->submit(get_batch{.id = "paused"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.held, 10);
    EXPECT_EQ(info->counts.ready, 0);
    ASSERT_TRUE(store_->submit(cancel_batch("paused", t0)));
    ASSERT_TRUE(ingest_batch(*store_, b, 12));
    info = store_->submit(get_batch{.id = "paused"});
    ASSERT_TRUE(info);
    EXPECT_EQ(info->counts.cancelled, 12);
}

}  // namespace
}  // namespace msgflash::store::test
