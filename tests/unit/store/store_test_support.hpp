// Shared by the store's tests: a temporary directory holding a real queue database (on disk, so WAL and
// fsync are real), helpers to open it, fill it and look inside, and the integrity check every test ends with.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdlib.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/ingest.hpp"
#include "store/queue_ops.hpp"
#include "store/queue_reader.hpp"
#include "store/queue_store.hpp"
#include "store/sqlite.hpp"

namespace msgflash::store::test {

using namespace std::chrono_literals;

// A fixed "now" so that every test's times are reproducible: 2026-11-27T08:00:00Z.
inline constexpr timestamp t0 = from_millis(1'795'766'400'000);

class temp_dir {
  public:
    temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "msgflash-store-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

inline store_options options_for(const std::filesystem::path& db, timestamp now = t0) {
    store_options o;
    o.path = db;
    o.now = now;
    return o;
}

inline std::unique_ptr<queue_store> open_store(const store_options& o) {
    auto r = queue_store::open(o);
    if (!r) {
        ADD_FAILURE() << "open: " << r.error().message();
        return nullptr;
    }
    return std::move(*r);
}

inline batch_spec make_batch(std::string id, std::string account = "shop", int priority = 0) {
    batch_spec b;
    b.id = std::move(id);
    b.account = std::move(account);
    b.source_file = b.id + ".json";
    b.fingerprint = "fp-" + b.id;
    b.priority = priority;
    b.instance_ids = {"7c9e6679-7425-40de-944b-e07fc1f90ae7"};
    b.message_json = R"({"type":"text","body":"Hi {{name}}"})";
    return b;
}

// A *.campaign.json batch: its one job creates the campaign.
inline batch_spec make_campaign_batch(std::string id) {
    batch_spec b = make_batch(std::move(id));
    b.message_json = R"({"campaign":{"name":"spring","type":"text","body":"Hi"}})";
    b.campaign = true;
    return b;
}

// Ingests `b` with one job that has no recipient of its own (what a campaign file queues).
inline store_result<ingest_report> ingest_recipientless(queue_store& s, const batch_spec& b,
                                                        timestamp now = t0) {
    auto session =
        s.begin_ingest({.now = now, .on_conflict = conflict_policy::reject_file, .source = b.source_file});
    const auto index = session->begin_batch(b);
    job_spec j;
    j.ref = "campaign";
    j.line = 1;
    session->add_job(index, std::move(j));
    return session->finish();
}

inline job_spec make_job(std::size_t i, const std::string& prefix = "+3361") {
    job_spec j;
    j.to = prefix + std::to_string(1'000'000 + i);
    j.ref = j.to;
    j.payload_json = R"({"name":"n)" + std::to_string(i) + R"("})";
    j.line = i + 1;
    return j;
}

// Ingests `n` jobs of one batch in one session.
inline store_result<ingest_report> ingest_batch(queue_store& s, const batch_spec& b, std::size_t n,
                                                timestamp now = t0, const std::string& prefix = "+3361") {
    auto session =
        s.begin_ingest({.now = now, .on_conflict = conflict_policy::reject_file, .source = b.source_file});
    const auto index = session->begin_batch(b);
    for (std::size_t i = 0; i < n; ++i) {
        session->add_job(index, make_job(i, prefix));
        if (session->should_flush()) {
            if (auto r = session->flush(); !r) {
                return r.error();
            }
        }
    }
    return session->finish();
}

inline claim_result claim(queue_store& s, const std::string& account, std::size_t n, timestamp now = t0) {
    auto r = s.submit(claim_jobs{claim_request{.account = account, .max_jobs = n, .now = now}});
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : claim_result{};
}

inline job_result sent_result(const claimed_job& j, timestamp now = t0) {
    job_result r;
    r.attempt.job_id = j.id;
    r.attempt.n = j.attempt;
    r.attempt.started_at = now;
    r.attempt.finished_at = now + 120ms;
    r.attempt.http_status = 200;
    r.attempt.latency_ms = 120;
    r.attempt.message_id = "msg-" + std::to_string(j.id);
    r.attempt.outcome = attempt_outcome::sent;
    r.new_state = job_state::sent;
    r.api_status = "queued";
    r.instance_id = j.instance_id;
    r.count_send = true;
    r.now = now + 120ms;
    return r;
}

// A raw read-only connection for looking inside.
inline connection raw_reader(const std::filesystem::path& db) {
    connection c(db, connection::mode::read_only);
    return c;
}

inline std::int64_t scalar(const std::filesystem::path& db, const std::string& sql) {
    connection c = raw_reader(db);
    statement s(c.get(), sql);
    return s.step() ? s.int64(0) : -1;
}

inline std::string text_scalar(const std::filesystem::path& db, const std::string& sql) {
    connection c = raw_reader(db);
    statement s(c.get(), sql);
    return s.step() ? s.str(0) : std::string();
}

inline std::string integrity(const std::filesystem::path& db) {
    auto r = queue_reader::open({.path = db});
    if (!r) {
        return "cannot open: " + r.error().message();
    }
    auto ic = r->integrity_check();
    return ic ? *ic : ic.error().message();
}

// Each test gets a fresh database and ends with PRAGMA integrity_check and the batch counters checked
// against the jobs table.
class store_fixture : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = dir_.path() / "queue.db";
        store_ = open_store(options_for(db_));
        ASSERT_NE(store_, nullptr);
    }

    void TearDown() override {
        store_.reset();
        if (std::filesystem::exists(db_)) {
            EXPECT_EQ(integrity(db_), "ok");
            EXPECT_EQ(
                scalar(
                    db_,
                    "SELECT count(*) FROM batch_counters c WHERE c.total <> (SELECT count(*) FROM jobs j "
                    "WHERE j.batch_id = c.batch_id) OR c.ready <> (SELECT count(*) FROM jobs j WHERE "
                    "j.batch_id = c.batch_id AND j.state = 'ready') OR c.inflight <> (SELECT count(*) FROM "
                    "jobs j WHERE j.batch_id = c.batch_id AND j.state = 'inflight') OR c.held <> (SELECT "
                    "count(*) FROM jobs j WHERE j.batch_id = c.batch_id AND j.state = 'held') OR c.sent <> "
                    "(SELECT count(*) FROM jobs j WHERE j.batch_id = c.batch_id AND j.state = 'sent') OR "
                    "c.waiting <> (SELECT count(*) FROM jobs j WHERE j.batch_id = c.batch_id AND j.state = "
                    "'waiting')"),
                0)
                << "batch_counters disagree with the jobs table";
        }
    }

    void reopen(store_options o) {
        store_.reset();
        store_ = open_store(o);
        ASSERT_NE(store_, nullptr);
    }

    temp_dir dir_;
    std::filesystem::path db_;
    std::unique_ptr<queue_store> store_;
};

}  // namespace msgflash::store::test
