#include "spool/job_reader.hpp"

#include "spool/file_readers.hpp"

namespace msgflash::spool {

std::optional<file_kind> kind_of(std::string_view name) noexcept {
    const auto has = [&](std::string_view suffix) {
        return name.size() > suffix.size() && name.ends_with(suffix);
    };
    if (has(".campaign.json")) {
        return file_kind::campaign_json;
    }
    if (has(".json")) {
        return file_kind::batch_json;
    }
    if (has(".ndjson") || has(".jsonl")) {
        return file_kind::line_json;
    }
    return std::nullopt;
}

read_report read_job_file(file_kind kind, byte_source& source, const reader_options& options,
                          job_sink& sink) {
    switch (kind) {
        case file_kind::batch_json:
            return read_batch_file(source, options, sink);
        case file_kind::line_json:
            return read_line_file(source, options, sink);
        case file_kind::campaign_json:
            return read_campaign_file(source, options, sink);
    }
    return {};
}

}  // namespace msgflash::spool
