#include "spool/safe_open.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "spool/job_reader.hpp"

namespace msgflash::spool {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if there is none (RFC 3629 table 3-7).
std::size_t utf8_length_at(std::string_view s, std::size_t i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) {
        return 1;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlongs
        hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
    } else {
        return 0;
    }
    if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < n; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
            return 0;
        }
    }
    return n;
}

bool is_control(unsigned char c) noexcept {
    return c < 0x20 || c == 0x7F;
}

// C1 controls (U+0080..U+009F) are two-byte sequences starting with 0xC2.
bool is_c1_control(std::string_view s, std::size_t i, std::size_t len) noexcept {
    return len == 2 && static_cast<unsigned char>(s[i]) == 0xC2 &&
           static_cast<unsigned char>(s[i + 1]) < 0xA0;
}

refusal refuse(refusal_kind k, std::string message) {
    return refusal{k, std::move(message)};
}

// The refusal for a failed lstat/openat, from its errno.
refusal refusal_from_errno(int err, std::string_view what) {
    switch (err) {
        case ENOENT:
            return refuse(refusal_kind::vanished, "the file is gone");
        case ELOOP:
            return refuse(refusal_kind::symlink,
                          "the file is a symbolic link; symbolic links are never followed");
        case EACCES:
        case EPERM:
            return refuse(refusal_kind::unreadable, "the daemon may not read the file (permission denied)");
        default:
            return refuse(refusal_kind::io_error, fmt::format("{} failed: {}", what, std::strerror(err)));
    }
}

std::optional<refusal> check_node(const struct stat& st, std::uint64_t max_file_bytes) {
    if (S_ISLNK(st.st_mode)) {
        return refuse(refusal_kind::symlink,
                      "the file is a symbolic link; symbolic links are never followed");
    }
    if (S_ISDIR(st.st_mode)) {
        return refuse(refusal_kind::directory, "a directory in incoming/ is left alone");
    }
    if (!S_ISREG(st.st_mode)) {
        return refuse(refusal_kind::not_regular,
                      S_ISFIFO(st.st_mode)   ? "the file is a FIFO, not a regular file"
                      : S_ISSOCK(st.st_mode) ? "the file is a socket, not a regular file"
                                             : "the file is a device, not a regular file");
    }
    if (st.st_nlink != 1) {
        return refuse(refusal_kind::hard_link,
                      fmt::format("the file has {} hard links; drop a file with exactly one", st.st_nlink));
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size == 0) {
        return refuse(refusal_kind::empty, "the file is empty");
    }
    if (size > max_file_bytes) {
        return refuse(
            refusal_kind::too_large,
            fmt::format("the file has {} bytes, over spool.max_file_bytes ({})", size, max_file_bytes));
    }
    return std::nullopt;
}

}  // namespace

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
}

name_check check_name(std::string_view name) {
    const auto bad = [](std::string why) { return name_check{name_class::bad, std::move(why)}; };
    if (name.starts_with('.') || name.ends_with(".tmp")) {
        return {name_class::in_progress, {}};
    }
    if (name.empty()) {
        return bad("the name is empty");
    }
    if (name.size() > max_name_bytes) {
        return bad(fmt::format("the name has {} bytes (at most {})", name.size(), max_name_bytes));
    }
    for (std::size_t i = 0; i < name.size();) {
        const std::size_t len = utf8_length_at(name, i);
        if (len == 0) {
            return bad("the name is not valid UTF-8");
        }
        if ((len == 1 && (is_control(static_cast<unsigned char>(name[i])) || name[i] == '/')) ||
            is_c1_control(name, i, len)) {
            return bad("the name contains a control character or '/'");
        }
        i += len;
    }
    if (!kind_of(name)) {
        return bad("the name does not end in .json, .campaign.json, .ndjson or .jsonl");
    }
    return {};
}

refusal_fate fate_of(refusal_kind k) noexcept {
    switch (k) {
        case refusal_kind::directory:
        case refusal_kind::in_progress:
        case refusal_kind::vanished:
            return refusal_fate::leave;
        case refusal_kind::io_error:
            return refusal_fate::retry;
        default:
            return refusal_fate::reject;
    }
}

std::string_view code_of(refusal_kind k) noexcept {
    switch (k) {
        case refusal_kind::bad_name:
            return "BAD_NAME";
        case refusal_kind::symlink:
            return "SYMLINK";
        case refusal_kind::not_regular:
            return "NOT_REGULAR";
        case refusal_kind::directory:
            return "DIRECTORY";
        case refusal_kind::hard_link:
            return "HARD_LINK";
        case refusal_kind::too_large:
            return "TOO_LARGE";
        case refusal_kind::empty:
            return "EMPTY";
        case refusal_kind::unreadable:
            return "UNREADABLE";
        case refusal_kind::in_progress:
            return "IN_PROGRESS";
        case refusal_kind::vanished:
            return "VANISHED";
        case refusal_kind::io_error:
            return "IO_ERROR";
    }
    return "IO_ERROR";
}

open_outcome safe_open(int dir_fd, std::string_view name, std::uint64_t max_file_bytes) {
    open_outcome out;
    const std::string z(name);  // the syscalls want a terminated string
    if (const name_check nc = check_name(name); nc.verdict != name_class::candidate) {
        // Still look at the node: a bad name on a directory is left alone, not "rejected".
        struct stat st {};
        if (::fstatat(dir_fd, z.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            out.refused = refusal_from_errno(errno, "lstat");
        } else if (S_ISDIR(st.st_mode)) {
            out.refused = refuse(refusal_kind::directory, "a directory in incoming/ is left alone");
        } else if (nc.verdict == name_class::in_progress) {
            out.refused = refuse(refusal_kind::in_progress, "the file is still being written (SPEC §3)");
        } else {
            out.refused = refuse(refusal_kind::bad_name, nc.why);
        }
        return out;
    }
    struct stat before {};
    if (::fstatat(dir_fd, z.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0) {
        out.refused = refusal_from_errno(errno, "lstat");
        return out;
    }
    if (auto r = check_node(before, max_file_bytes)) {
        out.refused = std::move(r);
        return out;
    }
    unique_fd fd(::openat(dir_fd, z.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        out.refused = refusal_from_errno(errno, "open");
        return out;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        out.refused = refusal_from_errno(errno, "fstat");
        return out;
    }
    if (auto r = check_node(st, max_file_bytes)) {
        out.refused = std::move(r);
        return out;
    }
    if (st.st_dev != before.st_dev || st.st_ino != before.st_ino) {
        // Swapped between lstat and open: look again at the next scan.
        out.refused = refuse(refusal_kind::io_error, "the file was replaced while it was being opened");
        return out;
    }
    // Reads must block normally from here on (O_NONBLOCK was only for the open).
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        out.refused = refusal_from_errno(errno, "fcntl");
        return out;
    }
    out.file.fd = std::move(fd);
    out.file.size = static_cast<std::uint64_t>(st.st_size);
    out.file.st = st;
    return out;
}

bool same_content(const struct stat& a, const struct stat& b) noexcept {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

std::string printable_name(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (std::size_t i = 0; i < name.size();) {
        const std::size_t len = utf8_length_at(name, i);
        if (len == 0 || (len == 1 && is_control(static_cast<unsigned char>(name[i]))) ||
            is_c1_control(name, i, len) || name[i] == '\\') {
            const std::size_t n = len == 0 ? 1 : len;
            for (std::size_t k = 0; k < n; ++k) {
                out += fmt::format("\\x{:02x}", static_cast<unsigned char>(name[i + k]));
            }
            i += n;
            continue;
        }
        out.append(name.substr(i, len));
        i += len;
    }
    return out;
}

std::string valid_utf8(std::string_view s) {
    constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8_length_at(s, i);
        if (len == 0) {
            out.append(replacement);
            ++i;
        } else {
            out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

}  // namespace msgflash::spool
