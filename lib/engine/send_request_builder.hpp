// Builds the body of POST /messages/send (SPEC §11) from what the queue holds for a job: the batch's message
// (batch_info::message_json) and the job's payload (the rendered message in direct mode, the merged
// variables in template mode — see lib/spool/job_validation.hpp). Pure.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <boost/json/object.hpp>

#include "api/api_types.hpp"

namespace msgflash::engine {

// A *.campaign.json batch's one job (SPEC §3): POST /campaigns with the body the file gave (the reader stored
// it as the batch message's "campaign" member, without account and batch).
struct campaign_create {
    boost::json::object body;
};

// The job's request, or why it cannot be built (a job the queue holds but no API call could carry).
using built_request = std::variant<api::send_request, campaign_create, std::string>;

built_request build_send_request(std::string_view message_json, std::string_view payload_json,
                                 std::string instance_id, std::string to);

// Whether the batch's message is sent as a template (it names a templateId): such a batch is previewed once.
bool is_template_message(std::string_view message_json);

// The error code recorded for a job whose stored content cannot be turned into a request.
inline constexpr std::string_view unbuildable_code = "BAD_STORED_CONTENT";

}  // namespace msgflash::engine
