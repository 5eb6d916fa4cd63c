// A thin RAII layer over the SQLite C API: a connection, a prepared statement with typed binds and
// columns, and the connection settings every queue connection uses. Failures throw store_exception.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace msgflash::store {

// Throws store_exception for `rc` (not SQLITE_OK/ROW/DONE), with sqlite3_errmsg(db) and `what`.
void check_sqlite(sqlite3* db, int rc, std::string_view what);
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what);

class connection {
  public:
    enum class mode { read_write_create, read_only };

    connection() = default;
    // Opens without SQLite's per-connection mutex: a connection is used by one thread at a time.
    connection(const std::filesystem::path& path, mode m);
    ~connection();
    connection(connection&& other) noexcept;
    connection& operator=(connection&& other) noexcept;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    sqlite3* get() const noexcept { return db_; }
    explicit operator bool() const noexcept { return db_ != nullptr; }

    void exec(const char* sql);
    // The first column of the first row as an integer (0 when there is no row).
    std::int64_t query_int(const char* sql);
    std::string query_text(const char* sql);

    void close() noexcept;

  private:
    sqlite3* db_ = nullptr;
};

class statement {
  public:
    statement() = default;
    statement(sqlite3* db, std::string_view sql);
    ~statement();
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    // Parameters are 1-based. Text is copied (SQLITE_TRANSIENT) unless bound with bind_static.
    statement& bind(int i, std::int64_t v);
    statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
    statement& bind(int i, std::string_view v);
    statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    statement& bind(int i, std::optional<std::int64_t> v);
    statement& bind_null(int i);
    // Text that outlives the statement's next step/reset (the caller guarantees it).
    statement& bind_static(int i, std::string_view v);
    // NULL for an empty string.
    statement& bind_text_or_null(int i, std::string_view v);
    statement& bind_static_or_null(int i, std::string_view v);

    // true: a row is available; false: done. Throws on error.
    bool step();
    // Steps to completion (an INSERT/UPDATE), then resets. Returns sqlite3_changes.
    int run();
    void reset() noexcept;

    std::int64_t int64(int col) const;
    int int32(int col) const { return static_cast<int>(int64(col)); }
    std::string_view text(int col) const;  // valid until the next step/reset
    std::string str(int col) const { return std::string(text(col)); }
    bool is_null(int col) const;
    std::optional<std::int64_t> opt_int64(int col) const;

    sqlite3_stmt* get() const noexcept { return stmt_; }
    std::string_view sql() const;

  private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

// Settings shared by every connection to the queue: busy timeout, no memory mapping (DESIGN: the 3.40
// WAL-reset race), secure_delete=fast. Writer-only settings live in the writer.
void apply_common_pragmas(connection& c, int busy_timeout_ms, std::int64_t cache_kib);

}  // namespace msgflash::store
