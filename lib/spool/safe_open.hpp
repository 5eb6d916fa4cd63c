// Opening a dropped file without trusting it (SPEC §3 "Dropping a file safely"): by name inside incoming/'s
// directory fd only, never following a symlink, never blocking on a FIFO, and only a regular file with one
// link, a whitelisted name and a size within spool.max_file_bytes. Every refusal says why, with a code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <utility>

namespace msgflash::spool {

// An owned file descriptor (closed on destruction).
class unique_fd {
  public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    ~unique_fd() { reset(); }
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset(std::exchange(o.fd_, -1));
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset(int fd = -1) noexcept;
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  private:
    int fd_ = -1;
};

// What a name in incoming/ is: a file to ingest, one to leave alone while its producer writes it (a dot-file
// or *.tmp, SPEC §3), or one we refuse (BAD_NAME).
enum class name_class { candidate, in_progress, bad };

struct name_check {
    name_class verdict = name_class::candidate;
    std::string why{};  // for bad: which rule
};

// Longest accepted name, in bytes: leaves room in NAME_MAX (255) for the "~N" a re-drop gets and the
// ".error.json" of its report.
constexpr std::size_t max_name_bytes = 200;

// Valid UTF-8, no '/', no control character, not a dot-file, not *.tmp, at most max_name_bytes, and one of
// the extensions of SPEC §3 (spool::kind_of).
name_check check_name(std::string_view name);

// Why a file was not opened. `left` says what becomes of it: moved to rejected/ (the file's fault), left in
// incoming/ to be retried (ours: out of descriptors, I/O), or left alone for good (a directory; a file that
// vanished meanwhile).
enum class refusal_kind {
    bad_name,     // BAD_NAME
    symlink,      // SYMLINK: never followed
    not_regular,  // NOT_REGULAR: FIFO, socket, device
    directory,    // left in incoming/, logged once
    hard_link,    // HARD_LINK: st_nlink > 1 (its content may belong to someone else)
    too_large,    // TOO_LARGE: over spool.max_file_bytes
    empty,        // EMPTY
    unreadable,   // UNREADABLE: permission denied
    in_progress,  // a dot-file or *.tmp: its producer is still writing it
    vanished,     // gone before we could open it (moved away, e.g. ingested by an earlier event)
    io_error,     // anything else: retried later
};

enum class refusal_fate { reject, retry, leave };

refusal_fate fate_of(refusal_kind k) noexcept;
std::string_view code_of(refusal_kind k) noexcept;  // e.g. "SYMLINK", as written in error.json

struct refusal {
    refusal_kind kind = refusal_kind::io_error;
    std::string message{};
};

// An open job file and what fstat said when it was opened (to notice a file that changes while it is read).
struct opened_file {
    unique_fd fd{};
    std::uint64_t size = 0;
    struct stat st {};
};

struct open_outcome {
    opened_file file{};  // valid when !refused
    std::optional<refusal> refused{};
};

// Opens `name` inside `dir_fd`: lstat first (a FIFO or device is never opened at all), then
// openat(O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) and fstat, checking that the node opened is the
// one inspected.
open_outcome safe_open(int dir_fd, std::string_view name, std::uint64_t max_file_bytes);

// True when `before` and `now` describe the same unchanged file (inode, size, mtime, ctime).
bool same_content(const struct stat& before, const struct stat& now) noexcept;

// `name` with control characters and bytes that are not UTF-8 escaped as \xNN: safe for a log line.
std::string printable_name(std::string_view name);

// Valid UTF-8: invalid sequences replaced by U+FFFD (for error.json, which must be valid JSON text).
std::string valid_utf8(std::string_view s);

}  // namespace msgflash::spool
