// A file replaced atomically in a directory: written to a dot-named temporary beside it, fsync'd, renamed
// over the old one, the directory fsync'd. A reader sees the old file or the new one, never a part, and a
// crash leaves at most the temporary (a dot-file, which the next write of that name replaces).
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace msgflash::report {

// An open directory (O_DIRECTORY), owned.
class dir_handle {
  public:
    // Opens `path`, creating it (mode 0750, like accepted/ and rejected/) when it is missing.
    static dir_handle open(const std::string& path, std::error_code& ec);
    dir_handle() = default;
    ~dir_handle();
    dir_handle(dir_handle&& other) noexcept;
    dir_handle& operator=(dir_handle&& other) noexcept;
    dir_handle(const dir_handle&) = delete;
    dir_handle& operator=(const dir_handle&) = delete;

    int fd() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

  private:
    explicit dir_handle(int fd) : fd_(fd) {}
    int fd_ = -1;
};

class atomic_file {
  public:
    // The temporary of `name`: "." + name + ".tmp".
    static std::string temp_name(std::string_view name);

    // Creates the temporary of `name` in `dir_fd` (mode 0640), replacing a leftover one. On failure `ec` is
    // set and the object is empty.
    atomic_file(int dir_fd, std::string name, std::error_code& ec);
    // Not committed: the temporary is removed and the old file stays.
    ~atomic_file();
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;

    // Buffered; an error is kept and returned by every later call and by commit().
    std::error_code write(std::string_view bytes);
    // Flushes, fsyncs, renames over `name`, fsyncs the directory.
    std::error_code commit();

  private:
    std::error_code flush();

    int dir_fd_ = -1;
    int fd_ = -1;
    std::string name_;
    std::string temp_;
    std::string buffer_;
    std::error_code error_;
    bool committed_ = false;
};

}  // namespace msgflash::report
