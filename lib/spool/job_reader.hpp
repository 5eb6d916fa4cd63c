// Reading one job file (SPEC §3) into batches and jobs, checking every rule on the way. Pure: bytes come in
// through a byte_source, batch and job specs go out through a job_sink, problems come back in a read_report.
// No directory, no SQLite, no clock reads. The spool's ingester and `msgflashctl validate` both use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/job.hpp"

namespace msgflash::spool {

// The three formats of SPEC §3, told apart by the file's name.
enum class file_kind { batch_json, line_json, campaign_json };

// "x.campaign.json" → campaign_json, "x.json" → batch_json, "x.ndjson" / "x.jsonl" → line_json, else none.
std::optional<file_kind> kind_of(std::string_view file_name) noexcept;

// One problem found in a file, as written to rejected/<name>.error.json. `line` is 1-based (0: the whole
// file); `field` is a JSON path such as "recipients[3].to" or "message.body" (empty: none); `code` is ours
// (e.g. INVALID_DESTINATION, MISSING_FIELD, NOT_JSON, LINE_TOO_LONG, UNKNOWN_ACCOUNT, ...).
struct problem {
    std::uint64_t line = 0;
    std::string field{};
    std::string code{};
    std::string message{};

    friend bool operator==(const problem&, const problem&) = default;
};

// Where the bytes come from. read() returns 0 at the end of the file; rewind() starts over (readers may
// take two passes, e.g. to hash the file or find a batch's header placed after its recipients).
class byte_source {
  public:
    virtual ~byte_source() = default;
    virtual std::size_t read(std::span<char> into) = 0;  // throws std::system_error on an I/O error
    virtual void rewind() = 0;
};

// Where batches and jobs go: the ingester's adapter over store::ingest_session, or a counter for validate.
class job_sink {
  public:
    virtual ~job_sink() = default;
    virtual std::size_t begin_batch(batch_spec spec) = 0;       // returns the index for add_job
    virtual void add_job(std::size_t batch, job_spec job) = 0;  // may block while the store takes a chunk
};

// Problems beyond this many are dropped behind one TOO_MANY_PROBLEMS entry, so that a million bad lines do
// not make a million-entry error.json.
constexpr std::size_t default_max_problems = 1000;

struct reader_options {
    std::string file_name{};              // as dropped in incoming/ (batch_spec::source_file, messages)
    std::string file_sha256{};            // hex SHA-256 of the file's bytes: default batch id, fingerprint
    std::vector<std::string> accounts{};  // configured account names (`account` optional when one)
    invalid_recipient_policy on_invalid_recipient = invalid_recipient_policy::skip;
    std::uint64_t max_line_bytes = 1'048'576;  // line files: a longer line is a problem, never buffered
    std::size_t max_problems = default_max_problems;  // read_report::problems holds at most this many + 1
};

struct read_report {
    bool rejected = false;            // the whole file is refused: the caller must commit nothing of it
    std::vector<problem> problems{};  // every problem, whether the file is rejected or recipients skipped
    std::uint64_t batches = 0;        // begin_batch calls
    std::uint64_t jobs = 0;           // add_job calls
    std::uint64_t skipped = 0;        // recipients or lines left out (each has a problem)
};

// Reads a whole file of the given kind. Never throws for bad content (that is a problem in the report);
// only the source's I/O errors and the sink's exceptions propagate. Problem codes and their meanings:
// spool/job_problems.hpp.
//
// What reaches the sink, per format:
// - begin_batch is called when a batch's first valid job is ready, so a file with no valid job calls nothing
//   (and is rejected with NO_RECIPIENTS). Once the file is rejected nothing more is sent to the sink, but
//   reading goes on so that the report lists every problem.
// - job_spec::payload_json: in direct mode the message object with its body rendered for that recipient
//   (variables removed; {{instance.*}} left for the API); in template mode the merged variables object
//   (the recipient's over the message's). batch_spec::message_json: the content fields as given.
// - *.json: one batch; id = `batch` or options.file_sha256; fingerprint = options.file_sha256. A bad
//   header or message, an unknown or duplicate field anywhere outside a recipient rejects the file; a bad
//   recipient (and an unknown field in one) is skipped, or rejects the file under reject_file. Recipients
//   repeating a `to` are all passed on: the store applies batch_spec::allow_duplicates.
// - *.ndjson / *.jsonl: every line is one job and every problem belongs to its line (skipped, or the file
//   rejected under reject_file). One begin_batch per distinct batch id (default options.file_sha256), empty
//   fingerprint; account, instanceId/instances, window, allowDuplicates and the content mode (and template)
//   must match the batch's first line (else BATCH_MISMATCH). A line's priority, sendAt and expiresAt go into
//   its job_spec's overrides; its batch_spec keeps the defaults.
// - *.campaign.json: ONE batch, id = `batch` if given, else "campaign-" + options.file_sha256; fingerprint
//   = options.file_sha256; instance_ids = {instanceId}; message_json = {"campaign": <the body without
//   account and batch, instanceId lower-cased>}, i.e. what POST /api/v1/campaigns takes. Then ONE job:
//   ref "campaign", to "", payload "null". Any problem rejects the file.
read_report read_job_file(file_kind kind, byte_source& source, const reader_options& options, job_sink& sink);

}  // namespace msgflash::spool
