#include "spool/job_problems.hpp"

#include <array>

namespace msgflash::spool {

namespace {

using enum problem_code;

constexpr std::array<problem_code_info, 36> codes{{
    {empty_file, "EMPTY_FILE", "the file has no content"},
    {not_json, "NOT_JSON", "not valid JSON (the message says what and where)"},
    {invalid_utf8, "INVALID_UTF8", "bytes that are not UTF-8 inside the JSON text"},
    {too_deep, "TOO_DEEP", "JSON nested deeper than any job file needs"},
    {not_an_object, "NOT_AN_OBJECT", "the file (or line) must be one JSON object"},
    {line_too_long, "LINE_TOO_LONG", "a line of a line file is longer than the limit; it was not read"},
    {unknown_field, "UNKNOWN_FIELD", "a field this format does not have (a typo would otherwise be ignored)"},
    {duplicate_field, "DUPLICATE_FIELD", "the same field twice in one object"},
    {missing_field, "MISSING_FIELD", "a required field is absent"},
    {wrong_type, "WRONG_TYPE", "a field has the wrong JSON type (e.g. a number where a string is expected)"},
    {invalid_batch_id, "INVALID_BATCH_ID", "batch must be a non-empty printable string of at most 200 bytes"},
    {unknown_account, "UNKNOWN_ACCOUNT", "account is not one of the configured accounts"},
    {invalid_instance_id, "INVALID_INSTANCE_ID", "an instance id that is not a UUID"},
    {invalid_template_id, "INVALID_TEMPLATE_ID", "templateId is not a UUID"},
    {instance_conflict, "INSTANCE_CONFLICT", "instanceId and instances are both given: choose one"},
    {invalid_time, "INVALID_TIME", "not an ISO 8601 date-time with an offset (Z or +hh:mm)"},
    {expires_before_send, "EXPIRES_BEFORE_SEND", "expiresAt is not after sendAt"},
    {invalid_window, "INVALID_WINDOW", "window needs from and to as \"HH:MM\", different, and tz"},
    {unknown_time_zone, "UNKNOWN_TIME_ZONE", "window.tz is not a zone of the IANA time zone database"},
    {invalid_priority, "INVALID_PRIORITY", "priority must be an integer within the allowed range"},
    {no_content, "NO_CONTENT", "no content mode: give templateId, or type with its content"},
    {content_conflict, "CONTENT_CONFLICT",
     "both content modes: templateId and direct content exclude each other"},
    {invalid_type, "INVALID_TYPE", "type is not one of the message types"},
    {missing_body, "MISSING_BODY", "body is required for type text"},
    {missing_media_url, "MISSING_MEDIA_URL", "mediaUrl is required for media types"},
    {invalid_media_url, "INVALID_MEDIA_URL", "mediaUrl must be an http:// or https:// URL"},
    {invalid_buttons, "INVALID_BUTTONS", "type buttons needs title, description and 1 or 2 buttons"},
    {invalid_variables, "INVALID_VARIABLES", "variables must be an object of strings or numbers"},
    {template_invalid, "TEMPLATE_INVALID", "a {{placeholder}} is malformed (unclosed or a bad name)"},
    {template_variables_missing, "TEMPLATE_VARIABLES_MISSING",
     "a {{placeholder}} has no value in the merged variables: the recipient is left out"},
    {invalid_destination, "INVALID_DESTINATION", "to must be E.164: + then 8 to 15 digits"},
    {invalid_ref, "INVALID_REF", "ref must be a non-empty string of at most 200 bytes"},
    {batch_mismatch, "BATCH_MISMATCH", "a line's batch-wide fields differ from the first line of its batch"},
    {invalid_campaign, "INVALID_CAMPAIGN", "a campaign field breaks the documented rules of POST /campaigns"},
    {no_recipients, "NO_RECIPIENTS", "no valid recipient (or line) left: the file is rejected"},
    {too_many_problems, "TOO_MANY_PROBLEMS",
     "more problems than the report keeps; the rest were counted only"},
}};

constexpr bool in_enum_order() {
    for (std::size_t i = 0; i < codes.size(); ++i) {
        if (static_cast<std::size_t>(codes[i].code) != i) {
            return false;
        }
    }
    return codes.back().code == too_many_problems;
}
static_assert(in_enum_order(), "one entry per problem_code, in the enum's order");

}  // namespace

std::span<const problem_code_info> problem_codes() noexcept {
    return codes;
}

std::string_view to_string(problem_code c) noexcept {
    return codes[static_cast<std::size_t>(c)].name;
}

void problem_list::add(std::uint64_t line, std::string field, problem_code code, std::string message) {
    ++count_;
    if (out_.size() < cap_) {
        out_.push_back({line, std::move(field), std::string(to_string(code)), std::move(message)});
    } else if (out_.size() == cap_) {
        out_.push_back({0, "", std::string(to_string(problem_code::too_many_problems)),
                        "more than " + std::to_string(cap_) + " problems; the others are not listed"});
    }
}

void problem_list::finish() {
    if (out_.size() > cap_) {
        out_[cap_].message = std::to_string(count_) + " problems in all; only the first " +
                             std::to_string(cap_) + " are listed";
    }
}

}  // namespace msgflash::spool
