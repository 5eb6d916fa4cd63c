// *.campaign.json: the body of POST /api/v1/campaigns (docs: campaigns-create.txt) plus `account` (and an
// optional `batch` id), checked by the documented rules and handed to the sink as one batch of one job.
#include <algorithm>
#include <array>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>

#include "config/config.hpp"
#include "spool/file_readers.hpp"
#include "spool/job_validation.hpp"
#include "spool/json_stream.hpp"

namespace msgflash::spool {

namespace json = boost::json;

namespace {

using enum problem_code;

// docs: campaigns-create.txt, "Body", plus ours: account (SPEC §3) and batch (the idempotency id).
constexpr std::array<std::string_view, 16> campaign_fields{
    "instanceId", "name",     "schedule", "repeat",      "recipients", "templateId", "variables", "type",
    "body",       "mediaUrl", "title",    "description", "footer",     "buttons",    "account",   "batch"};
// docs: campaigns-create.txt, "repeat: noe, daily, weekly" ("noe" read as "none").
constexpr std::array<std::string_view, 3> repeat_values{"none", "daily", "weekly"};
// docs: campaigns-create.txt, "recipients": type all | tags | explicit | group, value, groupId.
constexpr std::array<std::string_view, 3> recipient_fields{"type", "value", "groupId"};
constexpr std::array<std::string_view, 4> recipient_types{"all", "tags", "explicit", "group"};
constexpr std::string_view campaign_prefix = "campaign-";

class campaign_file_reader final : public json_stream_visitor {
  public:
    campaign_file_reader(const reader_options& options, job_sink& sink)
        : options_(options), sink_(sink), problems_(report_.problems, options.max_problems) {}

    read_report run(byte_source& source) {
        json_stream_options o;
        o.field_storage = json::storage_ptr(&resource_);
        if (!stream_json_object(source, o, *this, problems_,
                                "a campaign file is one JSON object: the body of POST /api/v1/campaigns")) {
            report_.rejected = true;
        } else if (check()) {
            emit();
        } else {
            report_.rejected = true;
        }
        problems_.finish();
        return std::move(report_);
    }

    void field(std::string_view key, std::uint64_t line, json::value value) override {
        ok_ = keep_field(body_, lines_, key, line, std::move(value), problems_) && ok_;
    }
    void streamed_field(std::uint64_t, bool) override {}
    void element(json::value, std::uint64_t) override {}

  private:
    void add(std::string_view field, problem_code code, std::string message) {
        const auto dot = field.find_first_of(".[");
        problems_.add(lines_.of(field.substr(0, dot)), std::string(field), code, std::move(message));
        ok_ = false;
    }

    // A required, non-empty string field, or nullptr (reported).
    const json::string* required_string(std::string_view key) {
        const auto* v = find_field(body_, key);
        if (v == nullptr) {
            add(key, missing_field, "required (docs: campaigns-create.txt)");
        } else if (!v->is_string()) {
            add(key, wrong_type, "must be a string");
        } else if (v->get_string().empty()) {
            add(key, invalid_campaign, "must not be empty");
        } else {
            return &v->get_string();
        }
        return nullptr;
    }

    bool check() {
        ok_ = check_known_fields(body_, campaign_fields, "", lines_, problems_) == 0 && ok_;
        ok_ = check_account(body_, lines_, options_, problems_, spec_) && ok_;
        if (const auto* batch = find_field(body_, "batch")) {
            if (!batch->is_string() || batch->get_string().empty() ||
                batch->get_string().size() > max_id_bytes) {
                add("batch", invalid_batch_id,
                    "must be a string of 1 to " + std::to_string(max_id_bytes) + " bytes");
            } else {
                spec_.id = batch->get_string();
            }
        }
        if (const auto* id = required_string("instanceId")) {
            if (auto uuid = normalize_uuid(*id)) {
                instance_id_ = std::move(*uuid);
            } else {
                add("instanceId", invalid_instance_id,
                    "\"" + std::string(*id) + "\" is not a UUID (from GET /api/v1/instances)");
            }
        }
        required_string("name");
        if (const auto* schedule = required_string("schedule")) {
            if (!parse_iso8601(*schedule)) {
                add("schedule", invalid_time,
                    "\"" + std::string(*schedule) +
                        "\" is not an ISO 8601 date-time with an offset, e.g. 2026-11-27T08:00:00+01:00");
            }
        }
        if (const auto* repeat = find_field(body_, "repeat")) {
            if (!repeat->is_string() || !one_of(repeat->get_string(), repeat_values)) {
                add("repeat", invalid_campaign, "must be one of " + list_of(repeat_values));
            }
        }
        check_recipients();
        content_plan content;
        ok_ = check_content(body_, "", lines_, problems_, content) && ok_;
        return ok_;
    }

    void check_recipients() {
        const auto* r = find_field(body_, "recipients");
        if (r == nullptr) {
            add("recipients", missing_field,
                "required: {\"type\": \"all\" | \"tags\" | \"explicit\" | \"group\", …}");
            return;
        }
        if (!r->is_object()) {
            add("recipients", wrong_type, "must be an object {\"type\", \"value\", \"groupId\"}");
            return;
        }
        const auto& o = r->get_object();
        ok_ = check_known_fields(o, recipient_fields, "recipients.", field_lines(lines_.of("recipients")),
                                 problems_) == 0 &&
              ok_;
        const auto* type = find_field(o, "type");
        std::string_view kind;
        if (type == nullptr) {
            add("recipients.type", missing_field, "required: all, tags, explicit or group");
        } else if (!type->is_string() || !one_of(type->get_string(), recipient_types)) {
            add("recipients.type", invalid_campaign, "must be one of " + list_of(recipient_types));
        } else {
            kind = type->get_string();
        }
        std::size_t values = 0;
        if (const auto* value = find_field(o, "value")) {
            const bool strings =
                value->is_array() &&
                std::all_of(value->get_array().begin(), value->get_array().end(),
                            [](const json::value& v) { return v.is_string() && !v.get_string().empty(); });
            if (!strings) {
                add("recipients.value", invalid_campaign,
                    "must be an array of non-empty strings (tags or contact ids)");
            } else {
                values = value->get_array().size();
            }
        }
        if ((kind == "tags" || kind == "explicit") && values == 0) {
            add("recipients.value", invalid_campaign,
                "required for type " + std::string(kind) + ": a non-empty array of " +
                    (kind == "tags" ? "tags" : "contact ids"));
        }
        const auto* group = find_field(o, "groupId");
        if (group != nullptr && !(group->is_string() && normalize_uuid(group->get_string()))) {
            add("recipients.groupId", invalid_campaign, "must be a group UUID");
        } else if (group == nullptr && kind == "group") {
            add("recipients.groupId", missing_field, "required for type group");
        }
    }

    void emit() {
        if (spec_.id.empty()) {
            spec_.id = std::string(campaign_prefix) + options_.file_sha256;
        }
        spec_.source_file = options_.file_name;
        spec_.fingerprint = options_.file_sha256;
        spec_.instance_ids = {instance_id_};
        json::object campaign;
        for (const auto& kv : body_) {
            if (kv.key() == "account" || kv.key() == "batch") {
                continue;
            }
            campaign.emplace(kv.key(), kv.key() == "instanceId" ? json::value(instance_id_) : kv.value());
        }
        spec_.message_json = json::serialize(json::object{{"campaign", std::move(campaign)}});
        spec_.campaign = true;
        const auto index = sink_.begin_batch(std::move(spec_));
        ++report_.batches;
        job_spec job;
        job.ref = "campaign";
        job.line = 1;
        sink_.add_job(index, std::move(job));
        ++report_.jobs;
    }

    const reader_options& options_;
    job_sink& sink_;
    read_report report_;
    problem_list problems_;
    json::monotonic_resource resource_;
    json::object body_{json::storage_ptr(&resource_)};
    field_lines lines_{1};
    batch_spec spec_;
    std::string instance_id_;
    bool ok_ = true;
};

}  // namespace

read_report read_campaign_file(byte_source& source, const reader_options& options, job_sink& sink) {
    campaign_file_reader reader(options, sink);
    return reader.run(source);
}

}  // namespace msgflash::spool
