#include "spool/spool_dirs.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc 2.28+)
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace msgflash::spool {

namespace {

// SPEC §2: producers drop files into incoming/ as members of the spool's group (setgid keeps that group).
constexpr mode_t incoming_mode = 02770;
constexpr mode_t outgoing_mode = 0750;

// Longest extension first, so that "x.campaign.json" keeps ".campaign.json" whole.
constexpr std::array<std::string_view, 4> known_extensions{".campaign.json", ".ndjson", ".jsonl", ".json"};

std::error_code last_error() {
    return {errno, std::system_category()};
}

unique_fd open_subdir(int parent, const char* name, mode_t mode, std::error_code& ec) {
    if (::mkdirat(parent, name, mode) != 0 && errno != EEXIST) {
        ec = last_error();
        return {};
    }
    unique_fd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        ec = last_error();
    }
    return fd;
}

}  // namespace

std::string suffixed_name(std::string_view name, unsigned n) {
    // A refused name may be up to NAME_MAX long; keep room for the suffix and ".error.json".
    if (name.size() > max_name_bytes) {
        name = name.substr(0, max_name_bytes);
    }
    if (n == 0) {
        return std::string(name);
    }
    for (std::string_view ext : known_extensions) {
        if (name.size() > ext.size() && name.ends_with(ext)) {
            return fmt::format("{}~{}{}", name.substr(0, name.size() - ext.size()), n, ext);
        }
    }
    return fmt::format("{}~{}", name, n);
}

std::error_code fsync_dir(int dir_fd) {
    if (::fsync(dir_fd) != 0) {
        return last_error();
    }
    return {};
}

std::optional<spool_dirs> spool_dirs::open(const std::filesystem::path& spool_dir, std::error_code& ec) {
    ec.clear();
    spool_dirs d;
    d.path_ = spool_dir;
    unique_fd root(::open(spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        ec = last_error();
        return std::nullopt;
    }
    d.incoming_ = open_subdir(root.get(), "incoming", incoming_mode, ec);
    if (!ec) {
        d.accepted_ = open_subdir(root.get(), "accepted", outgoing_mode, ec);
    }
    if (!ec) {
        d.rejected_ = open_subdir(root.get(), "rejected", outgoing_mode, ec);
    }
    if (ec) {
        return std::nullopt;
    }
    return d;
}

bool spool_dirs::is_free(int dir_fd, std::string_view name) {
    struct stat st {};
    const std::string z(name);
    return ::fstatat(dir_fd, z.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

std::string spool_dirs::free_name(std::string_view name, int dir_fd, int report_dir_fd) {
    for (unsigned n = 0; n < max_name_suffix; ++n) {
        std::string candidate = suffixed_name(name, n);
        if (is_free(dir_fd, candidate) &&
            (report_dir_fd < 0 || is_free(report_dir_fd, candidate + std::string(report_suffix)))) {
            return candidate;
        }
    }
    return {};
}

std::error_code spool_dirs::move(std::string_view from, int to_dir, const std::string& to,
                                 bool& moved) const {
    moved = false;
    const std::string src(from);
    if (::renameat2(incoming(), src.c_str(), to_dir, to.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno != EINVAL) {
            return last_error();
        }
        // A file system without RENAME_NOREPLACE: only this thread writes into accepted/ and rejected/.
        if (!is_free(to_dir, to)) {
            return std::make_error_code(std::errc::file_exists);
        }
        if (::renameat(incoming(), src.c_str(), to_dir, to.c_str()) != 0) {
            return last_error();
        }
    }
    moved = true;
    if (auto ec = fsync_dir(to_dir)) {
        return ec;
    }
    return fsync_dir(incoming());
}

}  // namespace msgflash::spool
