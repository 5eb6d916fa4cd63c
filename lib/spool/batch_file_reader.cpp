// *.json batch files: two streaming passes over the source. The first keeps the header (every top-level
// field but "recipients", wherever it stands) and checks it; the second streams the recipients one by one
// into the sink. Memory: the header plus one recipient.
#include <algorithm>
#include <array>
#include <charconv>

#include <boost/json/monotonic_resource.hpp>

#include "spool/file_readers.hpp"
#include "spool/job_validation.hpp"
#include "spool/json_stream.hpp"

namespace msgflash::spool {

namespace json = boost::json;

namespace {

using enum problem_code;

constexpr std::array<std::string_view, 11> batch_fields{
    "batch",  "account",  "instanceId", "instances",  "sendAt",         "expiresAt",
    "window", "priority", "message",    "recipients", "allowDuplicates"};
constexpr std::array<std::string_view, 3> recipient_fields{"to", "ref", "variables"};
constexpr std::string_view recipients_key = "recipients";

class batch_file_reader final : public json_stream_visitor {
  public:
    batch_file_reader(const reader_options& options, job_sink& sink)
        : options_(options), sink_(sink), problems_(report_.problems, options.max_problems) {}

    read_report run(byte_source& source) {
        read_header(source);
        if (!stopped_) {
            read_recipients(source);
        }
        if (!report_.rejected && report_.jobs == 0) {
            problems_.add(recipients_line_, std::string(recipients_key), no_recipients,
                          "no valid recipient: nothing to send");
            report_.rejected = true;
        }
        problems_.finish();
        return std::move(report_);
    }

    void field(std::string_view key, std::uint64_t line, json::value value) override {
        header_ok_ = keep_field(header_, lines_, key, line, std::move(value), problems_) && header_ok_;
    }

    void streamed_field(std::uint64_t line, bool is_array) override {
        if (pass_ == 2) {
            return;
        }
        if (recipients_seen_) {
            problems_.add(line, std::string(recipients_key), duplicate_field, "given twice");
            header_ok_ = false;
        }
        recipients_seen_ = true;
        recipients_line_ = line;
        lines_.add(recipients_key, line);
        if (!is_array) {
            problems_.add(line, std::string(recipients_key), wrong_type,
                          "must be an array of {\"to\", \"ref\", \"variables\"}");
            header_ok_ = false;
        }
    }

    void element(json::value value, std::uint64_t line) override { recipient(value, line); }

  private:
    void read_header(byte_source& source) {
        json_stream_options o;
        o.streamed_key = recipients_key;
        o.elements = false;
        o.field_storage = json::storage_ptr(&header_resource_);
        if (!stream_json_object(source, o, *this, problems_,
                                "a batch file is one JSON object {\"message\": …, \"recipients\": […]}")) {
            report_.rejected = true;
            stopped_ = true;
            return;
        }
        header_ok_ = check_known_fields(header_, batch_fields, "", lines_, problems_) == 0 && header_ok_;
        header_ok_ = check_batch_fields(header_, lines_, options_, problems_, spec_) && header_ok_;
        const auto* message = find_field(header_, "message");
        if (message == nullptr) {
            problems_.add(1, "message", no_content,
                          "required: the message to send (templateId, or type + content)");
            header_ok_ = false;
        } else if (!message->is_object()) {
            problems_.add(lines_.of("message"), "message", wrong_type, "must be an object");
            header_ok_ = false;
        } else {
            const auto line = lines_.of("message");
            const auto& m = message->get_object();
            header_ok_ =
                check_known_fields(m, content_fields, "message.", field_lines(line), problems_) == 0 &&
                header_ok_;
            header_ok_ = check_content(m, "message.", field_lines(line), problems_, content_) && header_ok_;
        }
        if (!recipients_seen_) {
            problems_.add(1, std::string(recipients_key), missing_field, "required: an array of recipients");
            header_ok_ = false;
            stopped_ = true;  // nothing to stream
        }
        if (!header_ok_) {
            report_.rejected = true;
        }
        if (spec_.id.empty()) {
            spec_.id = options_.file_sha256;
        }
        spec_.fingerprint = options_.file_sha256;
        spec_.source_file = options_.file_name;
        spec_.message_json = content_.message_json;
    }

    void read_recipients(byte_source& source) {
        pass_ = 2;
        source.rewind();
        json_stream_options o;
        o.streamed_key = recipients_key;
        o.fields = false;
        const auto r = stream_json(source, o, *this);
        if (!r.ok) {  // the bytes changed between the passes
            problems_.add(r.line, "", r.code, r.message + " (the file changed while it was read)");
            report_.rejected = true;
        }
    }

    // The path of the current recipient's fields, "recipients[12].", built in a reused buffer.
    std::string_view recipient_path(std::size_t index) {
        constexpr std::string_view head = "recipients[";
        std::array<char, 24> digits{};
        const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), index).ptr;
        path_.assign(head).append(digits.data(), end).append("].");
        return path_;
    }

    void recipient(const json::value& value, std::uint64_t line) {
        const std::size_t index = index_++;
        const auto path = recipient_path(index);
        bool ok = true;
        job_spec job;
        job.line = line;
        if (!value.is_object()) {
            problems_.add(line, std::string(path.substr(0, path.size() - 1)), wrong_type,
                          "a recipient is an object {\"to\": \"+33612345678\", …}");
            ok = false;
        } else {
            const auto& o = value.get_object();
            ok = check_known_fields(o, recipient_fields, path, field_lines(line), problems_) == 0;
            ok = check_destination(o, path, line, problems_, job) && ok;
            const json::object* vars = nullptr;
            if (const auto* v = find_field(o, "variables")) {
                if (check_variables(*v, path, line, problems_)) {
                    vars = &v->get_object();
                } else {
                    ok = false;
                }
            }
            if (ok && header_ok_) {
                ok = render_payload(content_, vars, path, line, problems_, job.payload_json);
            }
        }
        if (!ok) {
            ++report_.skipped;
            if (options_.on_invalid_recipient == invalid_recipient_policy::reject_file) {
                report_.rejected = true;
            }
            return;
        }
        if (report_.rejected) {
            return;  // still checked, so that the report lists every problem; nothing more goes to the sink
        }
        if (!batch_index_) {
            batch_index_ = sink_.begin_batch(spec_);
            ++report_.batches;
        }
        sink_.add_job(*batch_index_, std::move(job));
        ++report_.jobs;
    }

    const reader_options& options_;
    job_sink& sink_;
    read_report report_;
    problem_list problems_;
    json::monotonic_resource header_resource_;
    json::object header_{json::storage_ptr(&header_resource_)};
    field_lines lines_{1};
    batch_spec spec_;
    content_plan content_;
    bool header_ok_ = true;
    bool recipients_seen_ = false;
    bool stopped_ = false;
    int pass_ = 1;
    std::uint64_t recipients_line_ = 0;
    std::size_t index_ = 0;
    std::string path_;
    std::optional<std::size_t> batch_index_;
};

}  // namespace

read_report read_batch_file(byte_source& source, const reader_options& options, job_sink& sink) {
    batch_file_reader reader(options, sink);
    return reader.run(source);
}

}  // namespace msgflash::spool
