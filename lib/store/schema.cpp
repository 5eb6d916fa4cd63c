#include "store/schema.hpp"

#include <array>
#include <string>

#include <sqlite3.h>

#include "store/sqlite.hpp"
#include "store/store_error.hpp"

namespace msgflash::store {
namespace {

// v0 → v1: the placeholder every later version starts from.
void create_schema_version(connection& c) {
    c.exec(R"sql(
CREATE TABLE schema_version (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL  -- ms since the epoch, UTC
);
)sql");
}

// v1 → v2: the queue. Every time is integer milliseconds since the epoch (UTC). States are stored as the
// spellings of core/job.hpp so that the sqlite3 CLI and msgflashctl read them as they are.
void create_queue(connection& c) {
    c.exec(R"sql(
-- One row per configured account (API key) that ever had a batch. dispatch_round: the highest fair_seq
-- claimed so far; a batch arriving now starts its jobs' fair_seq there (core/job.hpp fair_seq).
CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    dispatch_round INTEGER NOT NULL DEFAULT 0
);

-- A batch, identified by its idempotency id (SPEC §3 `batch`). fingerprint: SHA-256 (hex) of its content,
-- '' when unchecked; the same id arriving with another fingerprint is a conflict.
CREATE TABLE batches (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    source_file      TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    send_at          INTEGER,
    expires_at       INTEGER,
    window_from      TEXT,
    window_to        TEXT,
    window_tz        TEXT,
    instance_ids     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(instance_ids)),
    message          TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(message)),
    allow_duplicates INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'paused', 'cancelled', 'held')),
    hold_reason      TEXT,
    fair_base        INTEGER NOT NULL,  -- the account's dispatch_round when the batch arrived
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER            -- every job ended; set by collect_finished_batches
);
CREATE INDEX batches_not_active ON batches(state) WHERE state <> 'active';
CREATE INDEX batches_unfinished ON batches(expires_at) WHERE finished_at IS NULL;

-- Jobs per state for each batch, so that progress is one row read. Kept by the writer, which sums the
-- changes of a whole transaction and applies them once before it commits (a trigger per job costs more than
-- the job's own update). A table of its own: those updates rewrite a few integers, not the batch's message.
CREATE TABLE batch_counters (
    batch_id  INTEGER PRIMARY KEY REFERENCES batches(id),
    total     INTEGER NOT NULL DEFAULT 0,
    waiting   INTEGER NOT NULL DEFAULT 0,
    ready     INTEGER NOT NULL DEFAULT 0,
    inflight  INTEGER NOT NULL DEFAULT 0,
    sent      INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    dead      INTEGER NOT NULL DEFAULT 0,
    expired   INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    held      INTEGER NOT NULL DEFAULT 0
);

-- Holds (SPEC §4): a key, a number or a batch that cannot send until the cause clears. At most one active
-- hold per subject; released holds stay as history.
CREATE TABLE holds (
    id          INTEGER PRIMARY KEY,
    scope       TEXT NOT NULL CHECK (scope IN ('key', 'number', 'batch')),
    subject     TEXT NOT NULL,  -- account name, instance id, batch id
    cause       TEXT NOT NULL,  -- quota, auth, configuration, operator, batch-failures, …
    reason_code TEXT NOT NULL DEFAULT '',
    since       INTEGER NOT NULL,
    until       INTEGER,        -- when it lifts by itself (a quota's billing period), NULL: on release
    released_at INTEGER
);
CREATE UNIQUE INDEX holds_active ON holds(scope, subject) WHERE released_at IS NULL;

-- One row per recipient. (batch_id, ref) is the job's identity: re-ingesting never queues it twice.
-- account_id, priority and expires_at are copied from the batch so that claims never join.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    batch_id        INTEGER NOT NULL REFERENCES batches(id),
    ref             TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    payload         TEXT NOT NULL DEFAULT 'null',  -- variables or the rendered message (JSON)
    -- The CHECKs on hot columns are chains of equalities: SQLite evaluates `IN (list)` in a CHECK by building
    -- an ephemeral table each time, five times the cost of the whole row update (bench/queue).
    state           TEXT NOT NULL CHECK (state = 'ready' OR state = 'inflight' OR state = 'sent' OR
                                         state = 'waiting' OR state = 'held' OR state = 'failed' OR state = 'dead' OR
                                         state = 'expired' OR state = 'cancelled'),
    attempts        INTEGER NOT NULL DEFAULT 0,    -- counted attempts, the current inflight one included
    next_attempt_at INTEGER NOT NULL,              -- when a waiting job becomes ready
    expires_at      INTEGER,
    last_code       TEXT,
    message_id      TEXT,
    api_status      TEXT,
    ambiguous       INTEGER NOT NULL DEFAULT 0,    -- some attempt may have been sent without an answer
    instance_id     TEXT,                          -- the number: pinned at ingest or used by the last attempt
    hold_id         INTEGER REFERENCES holds(id),  -- held: the hold; NULL with hold_reason: held on its own
    hold_reason     TEXT,
    fair_seq        INTEGER NOT NULL,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    priority        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (batch_id, ref)
);
-- Claims: the next ready jobs of an account by priority, then fair_seq (then id: the rowid ends every
-- index). Partial, so it holds only ready jobs and a claim is a range scan whatever the queue's size.
CREATE INDEX jobs_claim ON jobs(account_id, priority DESC, fair_seq) WHERE state = 'ready';
-- Waiting jobs of an account by due time: promotion to ready is a range scan too.
CREATE INDEX jobs_due ON jobs(account_id, next_attempt_at) WHERE state = 'waiting';
CREATE INDEX jobs_inflight ON jobs(account_id) WHERE state = 'inflight';
CREATE INDEX jobs_held ON jobs(hold_id) WHERE state = 'held';

-- Every attempt (SPEC §4): n is the job's attempt number; counted = 0 for those that consumed none
-- (a 429 rate limit, an answer that held the key or number).
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    n           INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    http_status INTEGER,
    api_code    TEXT,
    latency_ms  INTEGER,
    message_id  TEXT,
    instance_id TEXT,
    ambiguous   INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL CHECK (outcome = 'sent' OR outcome = 'retry' OR outcome = 'failed' OR
                                         outcome = 'rate-limited' OR outcome = 'ambiguous' OR outcome = 'held' OR
                                         outcome = 'crash-recovery'),
    counted     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX attempts_job ON attempts(job_id, n);

-- Sends per WhatsApp number in fixed UTC windows (minute, hour, day), so a restart never resets a budget.
CREATE TABLE number_counters (
    instance_id  TEXT NOT NULL,
    window_kind  TEXT NOT NULL CHECK (window_kind IN ('minute', 'hour', 'day')),
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (instance_id, window_kind, window_start)
) WITHOUT ROWID;

-- Delivery status of sent jobs, for reconciliation (SPEC §7). settled: the final status, or 'gave-up'
-- after reconcile.max_age; NULL while it is still polled.
CREATE TABLE deliveries (
    job_id        INTEGER PRIMARY KEY REFERENCES jobs(id),
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    message_id    TEXT NOT NULL,
    status        TEXT,
    status_at     INTEGER,
    last_checked  INTEGER,
    next_check_at INTEGER,
    settled       TEXT,
    settled_at    INTEGER
);
CREATE INDEX deliveries_due ON deliveries(account_id, next_check_at) WHERE settled IS NULL;

-- What msgflashctl shows per batch.
CREATE VIEW batch_progress AS
SELECT b.name AS batch, a.name AS account, b.state, b.hold_reason, b.priority, b.source_file, b.created_at,
       b.finished_at, c.total, c.waiting, c.ready, c.inflight, c.sent, c.failed, c.dead, c.expired,
       c.cancelled, c.held
FROM batches b JOIN accounts a ON a.id = b.account_id JOIN batch_counters c ON c.batch_id = b.id;
)sql");
}

// v2 → v3 (issue 7 item 2): how each ambiguous attempt was settled before any retry — the account's recent
// messages held one matching the job (it was sent with it), held none, or could not be read. NULL for an
// attempt that was not ambiguous (and for those recorded before this version).
void add_attempt_settled(connection& c) {
    c.exec(R"sql(
ALTER TABLE attempts ADD COLUMN settled TEXT
    CHECK (settled IS NULL OR settled = 'settled-found' OR settled = 'settled-not-found' OR settled = 'unresolved');
)sql");
}

// v3 → v4 (issue 7 item 3): a campaign file's job is reconciled with GET /campaigns/{id}/stats (its id is no
// message's), and the counts it gives are kept per batch, replaced at each check.
void add_campaign_stats(connection& c) {
    c.exec(R"sql(
ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
    CHECK (kind = 'message' OR kind = 'campaign');
CREATE TABLE campaign_stats (
    batch_id    INTEGER PRIMARY KEY REFERENCES batches(id),
    campaign_id TEXT NOT NULL,
    total       INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    delivered   INTEGER NOT NULL,
    read        INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL
);
)sql");
}

constexpr std::array<migration, 4> all_migrations{{
    {0, "schema_version table (placeholder)", &create_schema_version},
    {1, "queue: accounts, batches, jobs, attempts, holds, number counters, deliveries", &create_queue},
    {2, "attempts.settled: how an ambiguous attempt was settled", &add_attempt_settled},
    {3, "deliveries.kind and campaign_stats: campaigns reconciled from their stats", &add_campaign_stats},
}};

static_assert(all_migrations.size() == current_schema_version);

bool has_table(connection& c, const char* name) {
    statement s(c.get(), "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    s.bind(1, name);
    return s.step();
}

}  // namespace

std::span<const migration> migrations() {
    return all_migrations;
}

int read_schema_version(connection& c) {
    const auto app_id = c.query_int("PRAGMA application_id");
    if (app_id != 0 && app_id != queue_application_id) {
        throw_store_error(store_errc::not_a_queue,
                          "application_id is " + std::to_string(app_id) + ", not msgflashd's queue");
    }
    if (!has_table(c, "schema_version")) {
        if (c.query_int("SELECT count(*) FROM sqlite_schema") != 0) {
            throw_store_error(store_errc::not_a_queue, "the database has tables but no schema_version");
        }
        return 0;
    }
    return static_cast<int>(c.query_int("SELECT coalesce(max(version), 0) FROM schema_version"));
}

void migrate(connection& c, std::int64_t now_ms, int target) {
    int version = read_schema_version(c);
    if (version > current_schema_version) {
        throw_store_error(store_errc::schema_too_new,
                          "the queue database has schema version " + std::to_string(version) +
                              ", newer than this msgflashd knows (" + std::to_string(current_schema_version) +
                              "); run the msgflashd that wrote it, or a newer one");
    }
    while (version < target) {
        const migration& m = all_migrations.at(static_cast<std::size_t>(version));
        c.exec("BEGIN IMMEDIATE");
        try {
            // Read again under the write lock: another process may have migrated meanwhile.
            if (read_schema_version(c) != version) {
                c.exec("ROLLBACK");
                version = read_schema_version(c);
                continue;
            }
            m.apply(c);
            statement s(c.get(), "INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)");
            s.bind(1, version + 1).bind(2, now_ms).run();
            const std::string app = "PRAGMA application_id = " + std::to_string(queue_application_id);
            c.exec(app.c_str());
            c.exec("COMMIT");
        } catch (...) {
            if (::sqlite3_get_autocommit(c.get()) == 0) {
                ::sqlite3_exec(c.get(), "ROLLBACK", nullptr, nullptr, nullptr);
            }
            throw;
        }
        ++version;
    }
}

void check_schema_for_reading(connection& c) {
    const int version = read_schema_version(c);
    if (version > current_schema_version) {
        throw_store_error(store_errc::schema_too_new, "the queue database has schema version " +
                                                          std::to_string(version) +
                                                          ", newer than this program knows (" +
                                                          std::to_string(current_schema_version) + ")");
    }
    if (version < current_schema_version) {
        throw_store_error(store_errc::schema_outdated, "the queue database has schema version " +
                                                           std::to_string(version) + ", expected " +
                                                           std::to_string(current_schema_version) +
                                                           "; start msgflashd once to migrate it");
    }
}

}  // namespace msgflash::store
