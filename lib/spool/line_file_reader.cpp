// *.ndjson / *.jsonl line files: one self-contained job per line (SPEC §3), the batch fields flattened in.
// A line is parsed on its own; a line longer than the limit is skipped without being kept in memory.
#include <algorithm>
#include <array>
#include <unordered_map>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

#include "spool/file_readers.hpp"
#include "spool/job_validation.hpp"
#include "spool/json_stream.hpp"

namespace msgflash::spool {

namespace json = boost::json;

namespace {

using enum problem_code;

constexpr std::array<std::string_view, 20> line_fields{
    "batch",    "account",         "instanceId", "instances",   "sendAt",     "expiresAt", "window",
    "priority", "allowDuplicates", "ref",        "to",          "templateId", "variables", "type",
    "body",     "mediaUrl",        "title",      "description", "footer",     "buttons"};
// Memory each line is parsed into, reused; a larger line spills to the heap.
constexpr std::size_t line_buffer_bytes = 16 * 1024;

// What every line of one batch must agree on: the batch-wide settings and the content mode.
struct batch_signature {
    std::string account;
    std::vector<std::string> instance_ids;
    std::optional<sending_window> window;
    bool allow_duplicates = false;
    bool template_mode = false;
    std::string template_id;

    friend bool operator==(const batch_signature&, const batch_signature&) = default;
};

struct batch_entry {
    std::size_t index = 0;
    batch_signature signature;
    std::uint64_t first_line = 0;
};

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r';
}

class line_file_reader {
  public:
    line_file_reader(const reader_options& options, job_sink& sink)
        : options_(options), sink_(sink), problems_(report_.problems, options.max_problems) {
        json::parse_options po;
        po.max_depth = max_json_depth;
        parser_.emplace(json::storage_ptr(), po);
    }

    read_report run(byte_source& source) {
        std::vector<char> buffer(read_chunk_bytes);
        while (true) {
            const std::size_t n = source.read(buffer);
            if (n == 0) {
                break;
            }
            feed(std::string_view(buffer.data(), n));
        }
        if (too_long_) {
            end_too_long();
        } else if (!pending_.empty()) {
            take_line(pending_);
        }
        if (!report_.rejected && report_.jobs == 0) {
            problems_.add(0, "", no_recipients,
                          line_ == 0 ? "the file is empty" : "no valid line: nothing to send");
            report_.rejected = true;
        }
        problems_.finish();
        return std::move(report_);
    }

  private:
    void feed(std::string_view chunk) {
        while (!chunk.empty()) {
            const auto nl = chunk.find('\n');
            const auto piece = chunk.substr(0, nl);
            if (too_long_) {
                // Skipping to the end of an overlong line: nothing is kept.
            } else if (pending_.size() + piece.size() > options_.max_line_bytes) {
                too_long_ = true;
                pending_.clear();
                pending_.shrink_to_fit();
            } else if (nl != std::string_view::npos && pending_.empty()) {
                take_line(piece);  // the whole line is in the chunk: no copy
            } else {
                pending_.append(piece);
                if (nl != std::string_view::npos) {
                    take_line(pending_);
                    pending_.clear();
                }
            }
            if (nl == std::string_view::npos) {
                return;
            }
            if (too_long_) {
                end_too_long();
            }
            chunk.remove_prefix(nl + 1);
        }
    }

    void end_too_long() {
        too_long_ = false;
        ++line_;
        problems_.add(
            line_, "", line_too_long,
            "longer than " + std::to_string(options_.max_line_bytes) + " bytes (spool.max_line_bytes)");
        skip_line();
    }

    void skip_line() {
        ++report_.skipped;
        if (options_.on_invalid_recipient == invalid_recipient_policy::reject_file) {
            report_.rejected = true;
        }
    }

    void take_line(std::string_view text) {
        ++line_;
        while (!text.empty() && is_space(text.front())) {
            text.remove_prefix(1);
        }
        while (!text.empty() && is_space(text.back())) {
            text.remove_suffix(1);
        }
        if (text.empty()) {
            return;  // blank lines are allowed
        }
        resource_.release();
        parser_->reset(json::storage_ptr(&resource_));
        json::error_code ec;
        parser_->write(text.data(), text.size(), ec);  // the whole text: incomplete or extra data is an error
        if (ec) {
            const bool utf8 = ec == json::error::syntax && !is_valid_utf8(text);
            problems_.add(line_, "",
                          ec == json::error::too_deep ? too_deep
                          : utf8                      ? invalid_utf8
                                                      : not_json,
                          ec == json::error::too_deep
                              ? "nested deeper than " + std::to_string(max_json_depth) + " levels"
                              : "not a JSON object: " + ec.message());
            skip_line();
            return;
        }
        const json::value v = parser_->release();
        if (!v.is_object()) {
            problems_.add(line_, "", not_an_object, "each line is one JSON object: one job");
            skip_line();
            return;
        }
        if (!job_line(v.get_object())) {
            skip_line();
        }
    }

    bool job_line(const json::object& o) {
        const field_lines lines(line_);
        bool ok = check_known_fields(o, line_fields, "", lines, problems_) == 0;
        batch_spec spec;
        ok = check_batch_fields(o, lines, options_, problems_, spec) && ok;
        content_plan content;
        ok = check_content(o, "", lines, problems_, content) && ok;
        job_spec job;
        job.line = line_;
        ok = check_destination(o, "", line_, problems_, job) && ok;
        if (!ok || !render_payload(content, nullptr, "", line_, problems_, job.payload_json)) {
            return false;
        }
        // A line's own times and priority belong to its job: lines of one batch may differ in them.
        if (find_field(o, "priority") != nullptr) {
            job.priority = spec.priority;
        }
        job.send_at = std::exchange(spec.send_at, std::nullopt);
        job.expires_at = std::exchange(spec.expires_at, std::nullopt);
        spec.priority = 0;
        if (spec.id.empty()) {
            spec.id = options_.file_sha256;
        }
        batch_signature signature{spec.account,          spec.instance_ids,     spec.window,
                                  spec.allow_duplicates, content.template_mode, content.template_id};
        auto it = batches_.find(spec.id);
        if (it == batches_.end()) {
            if (report_.rejected) {
                return true;  // checked; nothing more goes to the sink
            }
            spec.source_file = options_.file_name;
            spec.message_json = std::move(content.message_json);
            const auto id = spec.id;
            const auto index = sink_.begin_batch(std::move(spec));
            ++report_.batches;
            it = batches_.emplace(id, batch_entry{index, std::move(signature), line_}).first;
        } else if (it->second.signature != signature) {
            problems_.add(
                line_, "batch", batch_mismatch,
                "account, instanceId/instances, window, allowDuplicates and the content mode must be "
                "the same on every line of batch \"" +
                    spec.id + "\" (see line " + std::to_string(it->second.first_line) + ")");
            return false;
        }
        if (!report_.rejected) {
            sink_.add_job(it->second.index, std::move(job));
            ++report_.jobs;
        }
        return true;
    }

    const reader_options& options_;
    job_sink& sink_;
    read_report report_;
    problem_list problems_;
    std::array<unsigned char, line_buffer_bytes> line_buffer_{};
    json::monotonic_resource resource_{line_buffer_.data(), line_buffer_.size()};
    std::optional<json::parser> parser_;
    std::string pending_;
    bool too_long_ = false;
    std::uint64_t line_ = 0;
    std::unordered_map<std::string, batch_entry> batches_;
};

}  // namespace

read_report read_line_file(byte_source& source, const reader_options& options, job_sink& sink) {
    line_file_reader reader(options, sink);
    return reader.run(source);
}

}  // namespace msgflash::spool
