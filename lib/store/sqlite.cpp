#include "store/sqlite.hpp"

#include <utility>

#include <sqlite3.h>

#include "store/store_error.hpp"

namespace msgflash::store {

void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
    int ext = db != nullptr ? ::sqlite3_extended_errcode(db) : rc;
    if ((ext & 0xff) != (rc & 0xff)) {
        ext = rc;  // the connection's last error is from something else
    }
    std::string detail(what);
    if (db != nullptr) {
        detail += ": ";
        detail += ::sqlite3_errmsg(db);
    }
    throw store_exception(store_error{make_sqlite_error(ext), std::move(detail)});
}

void check_sqlite(sqlite3* db, int rc, std::string_view what) {
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        throw_sqlite(db, rc, what);
    }
}

connection::connection(const std::filesystem::path& path, mode m) {
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    flags |= m == mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = ::sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string what = "opening " + path.string();
        sqlite3* db = std::exchange(db_, nullptr);
        std::string msg = db != nullptr ? ::sqlite3_errmsg(db) : ::sqlite3_errstr(rc);
        ::sqlite3_close_v2(db);
        throw store_exception(store_error{make_sqlite_error(rc), what + ": " + msg});
    }
    ::sqlite3_extended_result_codes(db_, 1);
}

connection::~connection() {
    close();
}

connection::connection(connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

connection& connection::operator=(connection&& other) noexcept {
    if (this != &other) {
        close();
        db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
}

void connection::close() noexcept {
    if (db_ != nullptr) {
        // v2: statements still open (a bug) keep the connection alive instead of failing the close.
        ::sqlite3_close_v2(std::exchange(db_, nullptr));
    }
}

void connection::exec(const char* sql) {
    char* err = nullptr;
    int rc = ::sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string what =
            std::string("executing `") + std::string(std::string_view(sql).substr(0, 80)) + "`";
        ::sqlite3_free(err);
        throw_sqlite(db_, rc, what);
    }
}

std::int64_t connection::query_int(const char* sql) {
    statement s(db_, sql);
    return s.step() ? s.int64(0) : 0;
}

std::string connection::query_text(const char* sql) {
    statement s(db_, sql);
    return s.step() ? s.str(0) : std::string();
}

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
    int rc = ::sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                  &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        throw_sqlite(db, rc, std::string("preparing `") + std::string(sql.substr(0, 120)) + "`");
    }
}

statement::~statement() {
    ::sqlite3_finalize(stmt_);
}

statement::statement(statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        ::sqlite3_finalize(stmt_);
        db_ = std::exchange(other.db_, nullptr);
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

statement& statement::bind(int i, std::int64_t v) {
    check_sqlite(db_, ::sqlite3_bind_int64(stmt_, i, v), "binding");
    return *this;
}

statement& statement::bind(int i, std::string_view v) {
    check_sqlite(db_, ::sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                 "binding");
    return *this;
}

statement& statement::bind(int i, std::optional<std::int64_t> v) {
    return v ? bind(i, *v) : bind_null(i);
}

statement& statement::bind_null(int i) {
    check_sqlite(db_, ::sqlite3_bind_null(stmt_, i), "binding");
    return *this;
}

statement& statement::bind_static(int i, std::string_view v) {
    check_sqlite(db_, ::sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8),
                 "binding");
    return *this;
}

statement& statement::bind_text_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind(i, v);
}

statement& statement::bind_static_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind_static(i, v);
}

bool statement::step() {
    int rc = ::sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    std::string what = "running `" + std::string(sql().substr(0, 120)) + "`";
    ::sqlite3_reset(stmt_);
    throw_sqlite(db_, rc, what);
}

int statement::run() {
    while (step()) {
    }
    int changes = ::sqlite3_changes(db_);
    reset();
    return changes;
}

void statement::reset() noexcept {
    ::sqlite3_reset(stmt_);
    ::sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::int64(int col) const {
    return ::sqlite3_column_int64(stmt_, col);
}

std::string_view statement::text(int col) const {
    const auto* p = reinterpret_cast<const char*>(::sqlite3_column_text(stmt_, col));
    if (p == nullptr) {
        return {};
    }
    return {p, static_cast<std::size_t>(::sqlite3_column_bytes(stmt_, col))};
}

bool statement::is_null(int col) const {
    return ::sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::optional<std::int64_t> statement::opt_int64(int col) const {
    if (is_null(col)) {
        return std::nullopt;
    }
    return int64(col);
}

std::string_view statement::sql() const {
    const char* s = stmt_ != nullptr ? ::sqlite3_sql(stmt_) : nullptr;
    return s != nullptr ? std::string_view(s) : std::string_view();
}

void apply_common_pragmas(connection& c, int busy_timeout_ms, std::int64_t cache_kib) {
    check_sqlite(c.get(), ::sqlite3_busy_timeout(c.get(), busy_timeout_ms), "setting busy_timeout");
    // DESIGN: no mmap_size (Debian's 3.40.1 and the WAL-reset race); 0 is also the build's default.
    c.exec("PRAGMA mmap_size = 0");
    const std::string cache = "PRAGMA cache_size = -" + std::to_string(cache_kib);
    c.exec(cache.c_str());
    c.exec("PRAGMA foreign_keys = ON");
}

}  // namespace msgflash::store
