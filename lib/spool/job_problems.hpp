// The codes a job file's problems carry (rejected/<name>.error.json, `msgflashctl validate`), each with its
// one-line meaning, and the capped list the readers collect them in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spool/job_reader.hpp"

namespace msgflash::spool {

enum class problem_code {
    empty_file,
    not_json,
    invalid_utf8,
    too_deep,
    not_an_object,
    line_too_long,
    unknown_field,
    duplicate_field,
    missing_field,
    wrong_type,
    invalid_batch_id,
    unknown_account,
    invalid_instance_id,
    invalid_template_id,
    instance_conflict,
    invalid_time,
    expires_before_send,
    invalid_window,
    unknown_time_zone,
    invalid_priority,
    no_content,
    content_conflict,
    invalid_type,
    missing_body,
    missing_media_url,
    invalid_media_url,
    invalid_buttons,
    invalid_variables,
    template_invalid,
    template_variables_missing,
    invalid_destination,
    invalid_ref,
    batch_mismatch,
    invalid_campaign,
    no_recipients,
    too_many_problems,
};

struct problem_code_info {
    problem_code code;
    std::string_view name;     // as written in error.json
    std::string_view meaning;  // one line, for `msgflashctl validate --codes` and the docs
};

// Every code, in the enum's order.
std::span<const problem_code_info> problem_codes() noexcept;
std::string_view to_string(problem_code c) noexcept;

// Collects problems into a report's vector up to a cap; counts them all.
class problem_list {
  public:
    explicit problem_list(std::vector<problem>& out, std::size_t cap = default_max_problems) noexcept
        : out_(out), cap_(cap) {}

    void add(std::uint64_t line, std::string field, problem_code code, std::string message);
    std::uint64_t count() const noexcept { return count_; }
    // Writes the final count into the TOO_MANY_PROBLEMS entry, if there is one. Call once at the end.
    void finish();

  private:
    std::vector<problem>& out_;
    std::size_t cap_;
    std::uint64_t count_ = 0;
};

}  // namespace msgflash::spool
