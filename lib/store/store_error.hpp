// How the queue reports failure: a boost::system code (our store_errc, or an SQLite extended result code in
// the "sqlite" category) plus a sentence saying what was being done. Expected failures come back as
// store_result<T>; store_exception carries the same inside the store (it never crosses the public API).
#pragma once

#include <stdexcept>
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace msgflash::store {

enum class store_errc {
    schema_too_new = 1,  // the database was written by a newer msgflashd
    schema_outdated,     // a read-only connection found a schema the daemon has not migrated yet
    not_a_queue,         // the file is an SQLite database, but not msgflashd's
    not_wal,             // WAL could not be enabled (e.g. a network file system)
    batch_conflict,      // a batch id already queued with other content (another fingerprint)
    not_found,           // no such job, batch or hold
    stale_result,        // a result for a job that is no longer inflight with that attempt number
    invalid_transition,  // the job model forbids it (core/job.hpp is_valid_transition)
    invalid_argument,    // a request that makes no sense (zero jobs, a held state without a hold…)
    closed,              // the store is closed or closing
    wrong_thread,        // a blocking call made on the writer thread itself
    ingest_aborted,      // the producer abandoned the ingest (a bad file); nothing of it was committed
    ingest_timeout,      // the producer sent nothing for ingest_idle_timeout
    transaction_lost,    // SQLite rolled back the whole group (I/O error, disk full): nothing committed
    operation_failed,    // an operation threw something that is not a store error
};

const boost::system::error_category& store_category() noexcept;
boost::system::error_code make_error_code(store_errc e) noexcept;

// SQLite's extended result codes (SQLITE_CONSTRAINT_UNIQUE, SQLITE_IOERR_FSYNC, …); message: sqlite3_errstr.
const boost::system::error_category& sqlite_category() noexcept;
boost::system::error_code make_sqlite_error(int extended_rc) noexcept;

struct store_error {
    boost::system::error_code code;
    std::string detail;  // what was being done and what SQLite said; for logs and operators

    // "detail (code message)" or the code's message alone.
    std::string message() const;
};

store_error make_store_error(store_errc e, std::string detail = {});

// Lets store_result<T>::value() throw (boost::system::result finds it by ADL).
[[noreturn]] void throw_exception_from_error(const store_error& e, const boost::source_location& loc);

template <typename T>
using store_result = boost::system::result<T, store_error>;

class store_exception : public std::runtime_error {
  public:
    explicit store_exception(store_error e);
    const store_error& error() const noexcept { return error_; }

  private:
    store_error error_;
};

[[noreturn]] void throw_store_error(store_errc e, std::string detail);

}  // namespace msgflash::store

template <>
struct boost::system::is_error_code_enum<msgflash::store::store_errc> : std::true_type {};
