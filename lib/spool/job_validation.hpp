// The rules of SPEC §3 shared by the three job-file formats: batch-wide fields, the message's content mode,
// recipients' numbers and variables, and rendering each recipient's payload. Pure; problems go to a list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/job.hpp"
#include "spool/job_problems.hpp"
#include "spool/job_reader.hpp"

namespace msgflash::spool {

// SPEC §3 says "higher first" and no more; a bounded range keeps typos (priority 1e9) out of the queue.
constexpr std::int64_t min_priority = -1000;
constexpr std::int64_t max_priority = 1000;
// Ours: ids end up in file names of reports and in every log line about a job.
constexpr std::size_t max_id_bytes = 200;

// Whether `v` is in `list`, and the list written for a message ("a, b, c").
inline bool one_of(std::string_view v, std::span<const std::string_view> list) noexcept {
    return std::find(list.begin(), list.end(), v) != list.end();
}
std::string list_of(std::span<const std::string_view> list);

// "2026-11-27T08:00:00+01:00", "2026-11-27T07:00Z", "…T08:00:00.250+01:00": a date-time with an offset
// (Z or ±hh:mm), seconds and fraction optional (the fraction is truncated to milliseconds). nullopt
// otherwise, including a date-time without an offset, whose instant would depend on the host's zone.
std::optional<timestamp> parse_iso8601(std::string_view text) noexcept;

// E.164 as SPEC §3 states it: '+' then 8 to 15 digits, the first not 0 (no country code starts with 0).
bool is_e164(std::string_view to) noexcept;

// Appends `s` as a JSON string literal (quotes included). `s` must be valid UTF-8 (the parser checked it).
void append_json_string(std::string& out, std::string_view s);
// The same without the quotes.
void append_json_chars(std::string& out, std::string_view s);

// A field's value, or nullptr when it is absent or null: optional fields written as null (CRM exports do
// that) count as absent.
const boost::json::value* find_field(const boost::json::object& o, std::string_view key) noexcept;

// Where each top-level field of one JSON object starts (1-based), and the line for anything else.
class field_lines {
  public:
    explicit field_lines(std::uint64_t fallback = 0) noexcept : fallback_(fallback) {}
    void add(std::string_view key, std::uint64_t line);
    std::uint64_t of(std::string_view key) const noexcept;
    std::uint64_t fallback() const noexcept { return fallback_; }

  private:
    std::vector<std::pair<std::string, std::uint64_t>> lines_;
    std::uint64_t fallback_;
};

// Reports each key of `o` that is not in `allowed` as UNKNOWN_FIELD (`path` prefixes the field names, e.g.
// "message."). Returns how many there were.
std::size_t check_known_fields(const boost::json::object& o, std::span<const std::string_view> allowed,
                               std::string_view path, const field_lines& lines, problem_list& problems);

// The batch-wide fields of a batch file's header or of one line: batch, account, instanceId | instances,
// sendAt, expiresAt, window, priority, allowDuplicates. Fills `spec` (id stays empty without `batch`).
// Returns false when any of them is wrong.
bool check_batch_fields(const boost::json::object& o, const field_lines& lines, const reader_options& options,
                        problem_list& problems, batch_spec& spec);

// `account`: one of options.accounts, optional when exactly one is configured. Fills spec.account.
bool check_account(const boost::json::object& o, const field_lines& lines, const reader_options& options,
                   problem_list& problems, batch_spec& spec);

// The content fields of SPEC §3 and of POST /campaigns (docs: campaigns-create.txt).
inline constexpr std::string_view content_fields[] = {
    "templateId", "variables", "type", "body", "mediaUrl", "title", "description", "footer", "buttons"};

// One piece of a direct-mode body: text copied as is, or the name of a variable to fill in.
struct body_piece {
    std::string text{};
    bool variable = false;
};

// A message's content, checked and ready to render for each recipient.
struct content_plan {
    bool template_mode = false;
    std::string template_id{};
    std::string type{};
    std::vector<body_piece> body{};  // direct mode; {{instance.*}} stays text for the API to fill
    bool body_has_variables = false;
    std::string message_json{};       // the content fields as given: batch_spec::message_json
    std::string rendered_head{};      // direct mode: the message without body and variables, no closing '}'
    std::string rendered_fixed{};     // direct mode, no variable in the body: every recipient's payload
    boost::json::object variables{};  // the message's variables, merged under each recipient's
    std::string variables_json{};     // template mode, recipient without variables: the payload
};

// Checks the content fields of `o` (other fields are the caller's): exactly one content mode, type, body,
// mediaUrl, buttons, variables, placeholders. `path` prefixes field names ("message." or ""); `lines` says
// where each field of `o` is. Returns false when the content is unusable.
bool check_content(const boost::json::object& o, std::string_view path, const field_lines& lines,
                   problem_list& problems, content_plan& out);

// Checks the `variables` value of the object at `path` ("message.", "recipients[3]." or ""): an object whose
// values are strings or numbers.
bool check_variables(const boost::json::value& v, std::string_view path, std::uint64_t line,
                     problem_list& problems);

// A recipient's payload: direct mode, the message with its body rendered from the recipient's variables
// over the message's; template mode, the merged variables. Returns false (with TEMPLATE_VARIABLES_MISSING
// at `path` + "variables") when a placeholder has no value. `recipient_variables` may be null.
bool render_payload(const content_plan& plan, const boost::json::object* recipient_variables,
                    std::string_view path, std::uint64_t line, problem_list& problems, std::string& payload);

// Checks a recipient's `to` and `ref` (ref defaults to `to`) into `job`. `path` prefixes field names
// ("recipients[3]." or ""). Returns false when either is wrong.
bool check_destination(const boost::json::object& o, std::string_view path, std::uint64_t line,
                       problem_list& problems, job_spec& job);

}  // namespace msgflash::spool
