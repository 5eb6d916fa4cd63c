#include "store/store_error.hpp"

#include <boost/throw_exception.hpp>
#include <sqlite3.h>

namespace msgflash::store {
namespace {

// boost::system::error_category's destructor is protected and non-virtual by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class store_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "msgflash.store"; }
    std::string message(int ev) const override {
        switch (static_cast<store_errc>(ev)) {
            case store_errc::schema_too_new:
                return "the queue database was written by a newer msgflashd";
            case store_errc::schema_outdated:
                return "the queue database has not been migrated to this version yet";
            case store_errc::not_a_queue:
                return "not a msgflashd queue database";
            case store_errc::not_wal:
                return "the queue database cannot use WAL mode";
            case store_errc::batch_conflict:
                return "batch id already queued with other content";
            case store_errc::not_found:
                return "not found";
            case store_errc::stale_result:
                return "result for a job that is not inflight with that attempt";
            case store_errc::invalid_transition:
                return "job state transition not allowed";
            case store_errc::invalid_argument:
                return "invalid argument";
            case store_errc::closed:
                return "the queue is closed";
            case store_errc::wrong_thread:
                return "blocking queue call on the writer thread";
            case store_errc::ingest_aborted:
                return "ingest aborted by its producer";
            case store_errc::ingest_timeout:
                return "ingest producer idle for too long";
            case store_errc::transaction_lost:
                return "the write transaction was rolled back";
            case store_errc::operation_failed:
                return "queue operation failed";
        }
        return "unknown store error";
    }
};

class sqlite_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "sqlite"; }
    std::string message(int ev) const override { return ::sqlite3_errstr(ev); }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& store_category() noexcept {
    static const store_category_impl c;
    return c;
}

boost::system::error_code make_error_code(store_errc e) noexcept {
    return {static_cast<int>(e), store_category()};
}

const boost::system::error_category& sqlite_category() noexcept {
    static const sqlite_category_impl c;
    return c;
}

boost::system::error_code make_sqlite_error(int extended_rc) noexcept {
    return {extended_rc, sqlite_category()};
}

std::string store_error::message() const {
    if (detail.empty()) {
        return code.message();
    }
    return detail + " (" + code.message() + ")";
}

store_error make_store_error(store_errc e, std::string detail) {
    return store_error{make_error_code(e), std::move(detail)};
}

void throw_exception_from_error(const store_error& e, const boost::source_location& loc) {
    boost::throw_exception(store_exception(e), loc);
}

store_exception::store_exception(store_error e) : std::runtime_error(e.message()), error_(std::move(e)) {}

void throw_store_error(store_errc e, std::string detail) {
    throw store_exception(make_store_error(e, std::move(detail)));
}

}  // namespace msgflash::store
