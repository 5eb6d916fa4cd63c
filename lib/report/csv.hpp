// RFC 4180 CSV: quoting one field, a row, and reading rows back (tests and scripts reading a report). Pure
// string building, shared by reports/<batch>.csv and `msgflashctl export`.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace msgflash::report {

// One field: quoted when it holds a comma, a double quote, CR or LF, with quotes doubled.
std::string csv_field(std::string_view s);
// Appends one field to `out` (as csv_field, without a temporary).
void append_csv_field(std::string& out, std::string_view s);
// Fields joined by commas, ending with CRLF (RFC 4180 §2.1).
std::string csv_row(std::span<const std::string> fields);
// Splits CSV text back into rows of fields.
std::vector<std::vector<std::string>> parse_csv(std::string_view text);

}  // namespace msgflash::report
