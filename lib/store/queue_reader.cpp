#include "store/queue_reader.hpp"

#include <sqlite3.h>

#include "store/schema.hpp"
#include "store/store_rows.hpp"

namespace msgflash::store {
namespace {

template <typename F>
auto guarded(F&& f) -> store_result<decltype(f())> {
    try {
        return f();
    } catch (const store_exception& e) {
        return e.error();
    }
}

// Each call reads one snapshot: a read transaction around its statements.
class read_txn {
  public:
    explicit read_txn(connection& db) : db_(db) { db_.exec("BEGIN"); }
    ~read_txn() { ::sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr); }
    read_txn(const read_txn&) = delete;
    read_txn& operator=(const read_txn&) = delete;

  private:
    connection& db_;
};

// The one place where "the doubt of an ambiguous attempt was settled" is read: the job is ambiguous and every
// ambiguous attempt of it was settled from the account's messages (found, or not found before the retry) —
// none unresolved, none left by a crash without a settle (attempts.settled NULL).
constexpr std::string_view ambiguous_settled_sql =
    "(j.ambiguous = 1 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = j.id AND a.ambiguous = 1 AND "
    "(a.settled IS NULL OR a.settled = 'unresolved')))";

std::string report_rows_sql(bool after) {
    return std::string(
               "SELECT j.ref, j.to_number, j.state, coalesce(j.message_id, ''), j.attempts, "
               "coalesce(j.last_code, ''), j.sent_at, coalesce(d.status, ''), j.ambiguous, ") +
           std::string(ambiguous_settled_sql) +
           ", d.job_id IS NOT NULL, d.settled IS NOT NULL FROM jobs j LEFT JOIN deliveries d ON d.job_id = "
           "j.id "
           "WHERE j.batch_id = ?1" +
           (after ? " AND j.ref > ?2" : "") + " ORDER BY j.ref LIMIT ?3";
}

}  // namespace

store_result<queue_reader> queue_reader::open(const reader_options& options) {
    return guarded([&] {
        connection db(options.path, connection::mode::read_only);
        apply_common_pragmas(db, static_cast<int>(options.busy_timeout.count()), options.cache_kib);
        db.exec("PRAGMA query_only = ON");
        {
            read_txn t(db);
            check_schema_for_reading(db);
        }
        return queue_reader(std::move(db));
    });
}

store_result<std::optional<batch_info>> queue_reader::batch(const std::string& id) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(), std::string(detail::batch_select_sql) + " WHERE b.name = ?1");
        s.bind(1, id);
        std::optional<batch_info> b;
        if (s.step()) {
            b = detail::read_batch_row(db_.get(), s);
        }
        return b;
    });
}

store_result<std::vector<batch_info>> queue_reader::batches(std::size_t limit) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(), std::string(detail::batch_select_sql) + " ORDER BY b.id DESC LIMIT ?1");
        s.bind(1, static_cast<std::int64_t>(limit));
        std::vector<batch_info> out;
        while (s.step()) {
            out.push_back(detail::read_batch_row(db_.get(), s));
        }
        return out;
    });
}

store_result<std::vector<job_info>> queue_reader::jobs(const std::string& batch_id,
                                                       std::optional<job_state> state,
                                                       const std::string& after_ref, std::size_t limit) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(), std::string(detail::job_select_sql) +
                                   " WHERE batch_id = (SELECT id FROM batches WHERE name = ?1) AND ref > ?2 "
                                   "AND (?3 IS NULL OR state = ?3) ORDER BY ref LIMIT ?4");
        s.bind(1, batch_id).bind(2, after_ref).bind(4, static_cast<std::int64_t>(limit));
        if (state) {
            s.bind(3, to_string(*state));
        }
        std::vector<job_info> out;
        while (s.step()) {
            out.push_back(detail::read_job_row(s));
        }
        return out;
    });
}

store_result<std::optional<job_info>> queue_reader::job(std::int64_t id) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(), std::string(detail::job_select_sql) + " WHERE id = ?1");
        s.bind(1, id);
        std::optional<job_info> j;
        if (s.step()) {
            j = detail::read_job_row(s);
        }
        return j;
    });
}

store_result<std::vector<attempt_record>> queue_reader::attempts(std::int64_t job_id) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(), std::string(detail::attempt_select_sql) + " WHERE job_id = ?1 ORDER BY n, id");
        s.bind(1, job_id);
        std::vector<attempt_record> out;
        while (s.step()) {
            out.push_back(detail::read_attempt_row(s));
        }
        return out;
    });
}

store_result<std::vector<delivery_backlog>> queue_reader::deliveries_backlog(timestamp now) {
    return guarded([&] {
        read_txn t(db_);
        // The deliveries_due index holds exactly the unsettled rows.
        statement s(
            db_.get(),
            "SELECT a.name, d.n, d.due, d.oldest FROM (SELECT account_id, count(*) AS n, "
            "coalesce(sum(next_check_at <= ?1), 0) AS due, min(CASE WHEN next_check_at <= ?1 THEN "
            "next_check_at END) AS oldest FROM deliveries WHERE settled IS NULL GROUP BY account_id) d "
            "JOIN accounts a ON a.id = d.account_id ORDER BY a.name");
        s.bind(1, to_millis(now));
        std::vector<delivery_backlog> out;
        while (s.step()) {
            delivery_backlog b;
            b.account = s.str(0);
            b.unsettled = s.int64(1);
            b.due = s.int64(2);
            if (!s.is_null(3)) {
                b.oldest_due = from_millis(s.int64(3));
            }
            out.push_back(std::move(b));
        }
        return out;
    });
}

store_result<std::vector<hold_info>> queue_reader::active_holds() {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(),
                    std::string(detail::hold_select_sql) + " WHERE released_at IS NULL ORDER BY id");
        std::vector<hold_info> out;
        while (s.step()) {
            out.push_back(detail::read_hold_row(s));
        }
        return out;
    });
}

store_result<std::vector<account_shape>> queue_reader::shape() {
    return guarded([&] {
        read_txn t(db_);
        statement s(
            db_.get(),
            "SELECT a.name, sum(c.total), sum(c.waiting), sum(c.ready), sum(c.inflight), sum(c.sent), "
            "sum(c.failed), sum(c.dead), sum(c.expired), sum(c.cancelled), sum(c.held) FROM accounts a "
            "JOIN batches b ON b.account_id = a.id JOIN batch_counters c ON c.batch_id = b.id "
            "GROUP BY a.id ORDER BY a.name");
        std::vector<account_shape> out;
        while (s.step()) {
            account_shape a;
            a.account = s.str(0);
            a.counts = {s.int64(1), s.int64(2), s.int64(3), s.int64(4), s.int64(5),
                        s.int64(6), s.int64(7), s.int64(8), s.int64(9), s.int64(10)};
            out.push_back(std::move(a));
        }
        return out;
    });
}

store_result<number_usage> queue_reader::usage(const std::string& instance_id, timestamp now) {
    return guarded([&] {
        read_txn t(db_);
        return detail::read_number_usage(db_.get(), instance_id, now);
    });
}

store_result<std::vector<finished_batch>> queue_reader::finished_batches(std::int64_t after_rowid,
                                                                         std::size_t limit) {
    return guarded([&] {
        read_txn t(db_);
        statement s(
            db_.get(),
            "SELECT b.id, b.name, a.name, b.finished_at, c.total, c.waiting, c.ready, c.inflight, c.sent, "
            "c.failed, c.dead, c.expired, c.cancelled, c.held FROM batches b "
            "JOIN accounts a ON a.id = b.account_id JOIN batch_counters c ON c.batch_id = b.id "
            "WHERE b.finished_at IS NOT NULL AND b.id > ?1 "
            "AND c.waiting + c.ready + c.inflight + c.held = 0 ORDER BY b.id LIMIT ?2");
        s.bind(1, after_rowid).bind(2, static_cast<std::int64_t>(limit));
        std::vector<finished_batch> out;
        while (s.step()) {
            finished_batch b;
            b.rowid = s.int64(0);
            b.id = s.str(1);
            b.account = s.str(2);
            b.finished_at = from_millis(s.int64(3));
            b.counts = {s.int64(4), s.int64(5),  s.int64(6),  s.int64(7),  s.int64(8),
                        s.int64(9), s.int64(10), s.int64(11), s.int64(12), s.int64(13)};
            out.push_back(std::move(b));
        }
        return out;
    });
}

store_result<delivery_progress> queue_reader::deliveries_of(std::int64_t batch_rowid) {
    return guarded([&] {
        read_txn t(db_);
        statement s(db_.get(),
                    "SELECT max(d.last_checked), count(*), count(*) - count(d.settled) FROM jobs j "
                    "JOIN deliveries d ON d.job_id = j.id WHERE j.batch_id = ?1");
        s.bind(1, batch_rowid);
        delivery_progress p;
        if (s.step()) {
            p.last_checked = detail::opt_time(s, 0);
            p.tracked = s.int64(1);
            p.unsettled = s.int64(2);
        }
        statement k(db_.get(),
                    "SELECT campaign_id, total, pending, sent, delivered, read, failed, checked_at FROM "
                    "campaign_stats WHERE batch_id = ?1");
        k.bind(1, batch_rowid);
        if (k.step()) {
            p.campaign = campaign_counts{.campaign_id = k.str(0),
                                         .total = k.int64(1),
                                         .pending = k.int64(2),
                                         .sent = k.int64(3),
                                         .delivered = k.int64(4),
                                         .read = k.int64(5),
                                         .failed = k.int64(6),
                                         .checked_at = from_millis(k.int64(7))};
        }
        return p;
    });
}

store_result<std::vector<report_row>> queue_reader::report_rows(std::int64_t batch_rowid,
                                                                const std::optional<std::string>& after_ref,
                                                                std::size_t limit) {
    return guarded([&] {
        read_txn t(db_);
        // Two statements rather than "?2 IS NULL OR ref > ?2", which would not be a range of the
        // (batch_id, ref) index: every page would scan the batch from its start.
        static const std::string first_page = report_rows_sql(false);
        static const std::string next_page = report_rows_sql(true);
        statement s(db_.get(), after_ref ? next_page : first_page);
        s.bind(1, batch_rowid).bind(3, static_cast<std::int64_t>(limit));
        if (after_ref) {
            s.bind(2, *after_ref);
        }
        std::vector<report_row> out;
        out.reserve(limit);
        while (s.step()) {
            report_row r;
            r.ref = s.str(0);
            r.to = s.str(1);
            r.state = parse_job_state(s.text(2)).value_or(job_state::failed);
            r.message_id = s.str(3);
            r.attempts = s.int32(4);
            r.last_code = s.str(5);
            r.sent_at = detail::opt_time(s, 6);
            r.delivery_status = s.str(7);
            r.ambiguous = s.int64(8) != 0;
            r.ambiguous_settled = s.int64(9) != 0;
            r.delivery_tracked = s.int64(10) != 0;
            r.delivery_settled = s.int64(11) != 0;
            out.push_back(std::move(r));
        }
        return out;
    });
}

store_result<std::vector<report_row>> report_cursor::next() {
    if (done_) {
        return std::vector<report_row>{};
    }
    auto page = reader_->report_rows(batch_rowid_, after_, page_rows_);
    if (!page) {
        return page;
    }
    if (page->size() < page_rows_) {
        done_ = true;
    }
    if (!page->empty()) {
        after_ = page->back().ref;
    }
    return page;
}

store_result<int> queue_reader::schema_version() {
    return guarded([&] {
        read_txn t(db_);
        return read_schema_version(db_);
    });
}

store_result<std::string> queue_reader::integrity_check() {
    return guarded([&] {
        statement s(db_.get(), "PRAGMA integrity_check");
        std::string out;
        while (s.step()) {
            if (!out.empty()) {
                out += '\n';
            }
            out += s.text(0);
        }
        return out;
    });
}

}  // namespace msgflash::store
