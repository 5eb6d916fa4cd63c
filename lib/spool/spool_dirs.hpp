// The spool's three directories as open descriptors (incoming/, accepted/, rejected/) and the moves between
// them: renames that never replace an existing file (a re-dropped name gets "~N"), made durable by an fsync
// of both directories.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "spool/safe_open.hpp"

namespace msgflash::spool {

// Re-drops of one name: the suffixes tried before giving up (each costs two fstatat).
constexpr unsigned max_name_suffix = 10'000;

// rejected/<name> + this is the file's report (SPEC §3).
constexpr std::string_view report_suffix = ".error.json";

// `name` with its n-th suffix: "shop.json" → "shop~2.json" (the suffix goes before the extension of SPEC §3,
// so the file keeps its kind; a name without one gets "~2" at the end). n == 0: the name itself.
std::string suffixed_name(std::string_view name, unsigned n);

class spool_dirs {
  public:
    // Opens <spool>/incoming, accepted and rejected, creating those that are missing (incoming/ 02770 for
    // the producers' group, the others 0750; systemd-tmpfiles normally made them).
    static std::optional<spool_dirs> open(const std::filesystem::path& spool_dir, std::error_code& ec);

    int incoming() const noexcept { return incoming_.get(); }
    int accepted() const noexcept { return accepted_.get(); }
    int rejected() const noexcept { return rejected_.get(); }
    const std::filesystem::path& path() const noexcept { return path_; }

    // The first suffixed_name(name, n) free in `dir_fd` for which `report_dir_fd` (if >= 0) has no
    // "<candidate>.error.json" either; empty if max_name_suffix are all taken.
    static std::string free_name(std::string_view name, int dir_fd, int report_dir_fd);

    // Moves incoming/<from> (whatever the node is: rename never follows a symlink) to `to_dir`/<to> without
    // replacing anything (file_exists if taken), then fsyncs `to_dir` and incoming/. `moved` tells whether
    // the rename happened (ec may still report a failed fsync).
    std::error_code move(std::string_view from, int to_dir, const std::string& to, bool& moved) const;

    // True when nothing is called `name` in `dir_fd` (not even a dangling symlink).
    static bool is_free(int dir_fd, std::string_view name);

  private:
    std::filesystem::path path_;
    unique_fd incoming_;
    unique_fd accepted_;
    unique_fd rejected_;
};

// fsync(2) of an open directory (after a rename or a create in it).
std::error_code fsync_dir(int dir_fd);

}  // namespace msgflash::spool
