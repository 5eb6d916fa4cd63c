#include "spool/error_report.hpp"

#include <cerrno>
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "spool/safe_open.hpp"
#include "spool/spool_dirs.hpp"

namespace msgflash::spool {

namespace json = boost::json;

namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

std::error_code write_all(int fd, std::string_view content) {
    while (!content.empty()) {
        const ssize_t n = ::write(fd, content.data(), content.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return last_error();
        }
        content.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

}  // namespace

std::string error_report_json(std::string_view file_name, std::span<const problem> problems) {
    json::array errors;
    errors.reserve(problems.size());
    for (const problem& p : problems) {
        errors.push_back(json::object{{"line", p.line},
                                      {"field", valid_utf8(p.field)},
                                      {"code", valid_utf8(p.code)},
                                      {"message", valid_utf8(p.message)}});
    }
    json::object report{{"file", valid_utf8(file_name)}, {"errors", std::move(errors)}};
    std::string text = json::serialize(report);
    text += '\n';
    return text;
}

std::error_code write_file_atomically(int dir_fd, std::string_view name, std::string_view content) {
    // A dot-name: if we die before the rename, nobody mistakes it for a report (nor, in incoming/, a job).
    const std::string temp = "." + std::string(name) + ".tmp";
    const std::string final_name(name);
    ::unlinkat(dir_fd, temp.c_str(), 0);  // a leftover of an earlier crash
    unique_fd fd(::openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!fd) {
        return last_error();
    }
    std::error_code ec = write_all(fd.get(), content);
    if (!ec && ::fsync(fd.get()) != 0) {
        ec = last_error();
    }
    fd.reset();
    if (!ec && ::renameat2(dir_fd, temp.c_str(), dir_fd, final_name.c_str(), RENAME_NOREPLACE) != 0) {
        ec = last_error();
        if (errno == EINVAL && spool_dirs::is_free(dir_fd, final_name)) {
            // No RENAME_NOREPLACE on this file system; only this thread writes here.
            ec.clear();
            if (::renameat(dir_fd, temp.c_str(), dir_fd, final_name.c_str()) != 0) {
                ec = last_error();
            }
        }
    }
    if (ec) {
        ::unlinkat(dir_fd, temp.c_str(), 0);
        return ec;
    }
    return fsync_dir(dir_fd);
}

}  // namespace msgflash::spool
