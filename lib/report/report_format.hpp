// reports/<batch>.csv and <batch>.summary.json (SPEC §7) and the rows of `msgflashctl export`: pure
// formatting of the rows the queue reader gives, one implementation for the daemon's reports and the live
// export.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/job.hpp"
#include "store/queue_types.hpp"

namespace msgflash::report {

// The columns of a report and of `export` (SPEC §7), in order.
inline constexpr std::array<std::string_view, 9> columns{
    "ref", "to", "state", "message_id", "attempts", "last_code", "sent_at", "delivery_status", "ambiguous"};

// "2026-11-27T07:00:00Z" (seconds, UTC): sent_at in the rows, the times of the summary.
std::string utc_seconds(timestamp t);

// The header line, CRLF-terminated (RFC 4180).
std::string csv_header();
// One recipient's row: RFC 4180 quoting, sent_at empty when never sent, ambiguous "true"/"false".
void append_csv_row(std::string& out, const store::report_row& r);
// The same fields as one NDJSON line ending with '\n': sent_at null when never sent, attempts a number,
// ambiguous a boolean.
void append_ndjson_row(std::string& out, const store::report_row& r);

// What the summary says besides its counts.
struct summary_info {
    std::string batch{};
    std::string account{};
    timestamp generated_at{};
    std::optional<timestamp> finished_at{};
    // The newest delivery check (deliveries.last_checked) the rows include: the reporter rewrites a report
    // that is not final when the queue has a newer one.
    std::optional<timestamp> deliveries_checked_at{};
    // A campaign file's batch: its campaign's recipients by state, as GET /campaigns/{id}/stats last said.
    std::optional<store::campaign_counts> campaign{};
};

// Counts over a batch's rows as they stream past (one pass, whatever the batch's size).
class summary_builder {
  public:
    // Distinct delivery statuses counted by name; any further ones are counted as "other" (the API's
    // statuses are a handful: this only bounds what an unexpected answer can make the summary hold).
    static constexpr std::size_t max_statuses = 32;

    void add(const store::report_row& r);

    std::int64_t rows() const noexcept { return states_.total; }
    const store::batch_counts& states() const noexcept { return states_; }
    std::int64_t unsettled_deliveries() const noexcept { return tracked_ - settled_; }
    // Final: no job can change any more (none pending) and every sent job's delivery status is final (or
    // reconciliation gave up on it) — a batch that sent nothing is final at once.
    bool final() const noexcept { return states_.pending() == 0 && unsettled_deliveries() == 0; }
    // Sends per second between the first and the last send: (sends - 1) / (last - first); nullopt with
    // fewer than two sends or all in the same millisecond.
    std::optional<double> mean_pace() const noexcept;

    // The summary document, one JSON object ending with '\n'.
    std::string json(const summary_info& info) const;

  private:
    store::batch_counts states_{};
    std::map<std::string, std::int64_t, std::less<>> statuses_{};
    std::int64_t tracked_ = 0;
    std::int64_t settled_ = 0;
    std::int64_t ambiguous_ = 0;
    std::int64_t ambiguous_settled_ = 0;
    std::int64_t sends_ = 0;
    std::optional<timestamp> first_sent_{};
    std::optional<timestamp> last_sent_{};
};

// What the reporter reads back from a summary it wrote (after a restart): nullopt when the text is not such
// a summary (the report is then written again).
struct summary_state {
    bool final = false;
    std::optional<std::int64_t> deliveries_checked_ms{};
    store::batch_counts states{};
};
std::optional<summary_state> read_summary_state(std::string_view json_text);

// The longest file stem used as it is; a longer one is cut and given a hash of the whole name, so that
// "<stem>.summary.json" and its temporary name stay within NAME_MAX (255).
inline constexpr std::size_t max_stem_bytes = 200;

// The file stem of a batch's report ("<stem>.csv", "<stem>.summary.json"). Ingest allows any printable
// name up to 200 bytes ('/', a leading '.', spaces, UTF-8): letters, digits, '-', '_' and '.' (not leading)
// are kept, every other byte becomes %XX, so a stem is never a path, never a dot-file, and two batches never
// share one; past max_stem_bytes the stem is the encoded name's start, '~' and 16 hex digits of its SHA-256.
std::string file_stem(std::string_view batch);

inline constexpr std::string_view csv_suffix = ".csv";
inline constexpr std::string_view summary_suffix = ".summary.json";

}  // namespace msgflash::report
