// rejected/<name>.error.json (SPEC §3): the problems of one file, one entry per problem, as
// {"file":…,"errors":[{"line":…,"field":…,"code":…,"message":…}]}, written so that a crash never leaves half
// a report under the final name.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "spool/job_reader.hpp"

namespace msgflash::spool {

// The report's JSON text. Strings that are not valid UTF-8 (a file name, a quoted bad value) get U+FFFD in
// place of their bad bytes, so the report is always valid JSON.
std::string error_report_json(std::string_view file_name, std::span<const problem> problems);

// Writes `content` as `name` inside `dir_fd` atomically and durably: a dot-file beside it, fsync, rename
// without replacing (EEXIST if `name` exists: nothing is overwritten), fsync of the directory.
std::error_code write_file_atomically(int dir_fd, std::string_view name, std::string_view content);

}  // namespace msgflash::spool
