#include "report/atomic_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace msgflash::report {

namespace {

// Bytes gathered before a write(2): large enough that a million rows take a few thousand calls.
constexpr std::size_t buffer_bytes = 256 * 1024;
constexpr mode_t dir_mode = 0750;
constexpr mode_t file_mode = 0640;

std::error_code last_error() {
    return {errno, std::system_category()};
}

}  // namespace

dir_handle dir_handle::open(const std::string& path, std::error_code& ec) {
    ec.clear();
    if (::mkdir(path.c_str(), dir_mode) != 0 && errno != EEXIST) {
        ec = last_error();
        return {};
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ec = last_error();
        return {};
    }
    return dir_handle(fd);
}

dir_handle::~dir_handle() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

dir_handle::dir_handle(dir_handle&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

dir_handle& dir_handle::operator=(dir_handle&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

std::string atomic_file::temp_name(std::string_view name) {
    return "." + std::string(name) + ".tmp";
}

atomic_file::atomic_file(int dir_fd, std::string name, std::error_code& ec)
    : dir_fd_(dir_fd), name_(std::move(name)), temp_(temp_name(name_)) {
    ::unlinkat(dir_fd_, temp_.c_str(), 0);  // a leftover of a crash
    fd_ = ::openat(dir_fd_, temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode);
    if (fd_ < 0) {
        error_ = last_error();
    }
    ec = error_;
    buffer_.reserve(buffer_bytes);
}

atomic_file::~atomic_file() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    if (!committed_) {
        ::unlinkat(dir_fd_, temp_.c_str(), 0);
    }
}

std::error_code atomic_file::flush() {
    std::size_t done = 0;
    while (!error_ && done < buffer_.size()) {
        const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0) {
            if (errno != EINTR) {
                error_ = last_error();
            }
            continue;
        }
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    return error_;
}

std::error_code atomic_file::write(std::string_view bytes) {
    if (error_) {
        return error_;
    }
    buffer_ += bytes;
    if (buffer_.size() >= buffer_bytes) {
        return flush();
    }
    return {};
}

std::error_code atomic_file::commit() {
    if (flush()) {
        return error_;
    }
    if (::fsync(fd_) != 0) {
        error_ = last_error();
        return error_;
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
        error_ = last_error();
        return error_;
    }
    if (::renameat(dir_fd_, temp_.c_str(), dir_fd_, name_.c_str()) != 0) {
        error_ = last_error();
        return error_;
    }
    committed_ = true;
    if (::fsync(dir_fd_) != 0) {
        error_ = last_error();
    }
    return error_;
}

}  // namespace msgflash::report
