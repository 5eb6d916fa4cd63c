#include "spool/spool_ingester.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <exception>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "spool/error_report.hpp"
#include "spool/safe_open.hpp"
#include "store/ingest.hpp"
#include "store/queue_store.hpp"

namespace msgflash::spool {

namespace {

// Read size for the hash and the readers: large enough that syscalls cost nothing next to parsing.
constexpr std::size_t read_buffer_bytes = 256 * 1024;
// Directories in incoming/ remembered (to log each once); past this many the memory starts over.
constexpr std::size_t max_directories_remembered = 1024;

// The store refused a chunk or the commit; carries its error out of the reader.
struct store_failure : std::exception {
    explicit store_failure(store::store_error e) : error(std::move(e)) {}
    const char* what() const noexcept override { return "the queue refused the ingest"; }
    store::store_error error;
};

// The daemon is stopping: the file is given up (its session aborted) and handled again at the next start.
struct stopping : std::exception {
    const char* what() const noexcept override { return "the spool is stopping"; }
};

// The reader's sink over one store ingest session, opened at the first batch: until then the writer thread
// stays free (a session blocks it), e.g. while a reader looks for a batch's header.
class session_sink final : public job_sink {
  public:
    session_sink(store::queue_store& store, std::stop_token stop, store::ingest_options options)
        : store_(store), stop_(std::move(stop)), options_(std::move(options)) {}

    std::size_t begin_batch(batch_spec spec) override {
        if (stop_.stop_requested()) {
            throw stopping();
        }
        if (!session_) {
            session_ = store_.begin_ingest(options_);
        }
        return session_->begin_batch(std::move(spec));
    }

    void add_job(std::size_t batch, job_spec job) override {
        session_->add_job(batch, std::move(job));
        if (session_->should_flush()) {
            if (stop_.stop_requested()) {
                throw stopping();
            }
            if (auto r = session_->flush(); !r) {
                throw store_failure(r.error());
            }
        }
    }

    store::ingest_session* session() noexcept { return session_.get(); }

  private:
    store::queue_store& store_;
    std::stop_token stop_;
    store::ingest_options options_;
    std::unique_ptr<store::ingest_session> session_;
};

// Store errors that mean "this file cannot go in" (retrying it would fail the same way) rather than
// "the queue cannot take anything right now".
bool is_file_fault(const store::store_error& e) {
    return e.code == store::store_errc::batch_conflict || e.code == store::store_errc::invalid_argument;
}

problem store_problem(const store::store_error& e) {
    if (e.code == store::store_errc::batch_conflict) {
        return {0, "batch", "BATCH_CONFLICT", e.detail};
    }
    return {0, "", "QUEUE_REFUSED", e.message()};
}

}  // namespace

std::size_t file_source::read(std::span<char> into) {
    const std::uint64_t left = limit_ - pos_;
    if (left == 0 || into.empty()) {
        return 0;
    }
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(into.size(), left));
    for (;;) {
        const ssize_t n = ::read(fd_, into.data(), want);
        if (n >= 0) {
            pos_ += static_cast<std::uint64_t>(n);
            return static_cast<std::size_t>(n);
        }
        if (errno != EINTR) {
            throw std::system_error(errno, std::system_category(), "read");
        }
    }
}

void file_source::rewind() {
    if (::lseek(fd_, 0, SEEK_SET) != 0) {
        throw std::system_error(errno, std::system_category(), "lseek");
    }
    pos_ = 0;
}

std::string sha256_hex(byte_source& source, std::vector<char>& buffer) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("EVP_DigestInit_ex(SHA-256) failed");
    }
    for (;;) {
        const std::size_t n = source.read(buffer);
        if (n == 0) {
            break;
        }
        EVP_DigestUpdate(ctx.get(), buffer.data(), n);
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest.data(), &len);
    std::string hex;
    hex.reserve(2 * len);
    for (unsigned i = 0; i < len; ++i) {
        fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
    }
    return hex;
}

ingester_options ingester_options::from_config(const config& c) {
    ingester_options o;
    o.max_file_bytes = c.spool.max_file_bytes;
    o.max_line_bytes = c.spool.max_line_bytes;
    o.on_invalid_recipient = c.spool.on_invalid_recipient;
    for (const auto& a : c.accounts) {
        o.accounts.push_back(a.name);
    }
    return o;
}

std::string_view to_string(file_outcome o) noexcept {
    switch (o) {
        case file_outcome::accepted:
            return "accepted";
        case file_outcome::rejected:
            return "rejected";
        case file_outcome::retry:
            return "retry";
        case file_outcome::ignored:
            return "ignored";
    }
    return "ignored";
}

spool_ingester::spool_ingester(const spool_dirs& dirs, store::queue_store& store, ingester_options options)
    : dirs_(dirs),
      store_(store),
      options_(std::move(options)),
      logger_(options_.logger ? options_.logger : spdlog::default_logger()),
      buffer_(read_buffer_bytes) {
    if (!options_.now) {
        options_.now = [] {
            return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
        };
    }
}

file_report spool_ingester::ingest(std::string_view name, std::stop_token stop) {
    file_report out;
    out.file = std::string(name);
    try {
        run(name, std::move(stop), out);
    } catch (const std::exception& e) {
        // Whatever went wrong, nothing was committed and the file is where it was: try again later.
        out.outcome = file_outcome::retry;
        out.reason = e.what();
    }
    log(out);
    return out;
}

void spool_ingester::run(std::string_view name, std::stop_token stop, file_report& out) {
    if (check_name(name).verdict == name_class::in_progress) {
        out.outcome = file_outcome::ignored;
        out.reason = "still being written";
        return;
    }
    open_outcome opened = safe_open(dirs_.incoming(), name, options_.max_file_bytes);
    if (opened.refused) {
        const refusal& r = *opened.refused;
        out.code = std::string(code_of(r.kind));
        switch (fate_of(r.kind)) {
            case refusal_fate::leave:
                out.outcome = file_outcome::ignored;
                out.reason = r.message;
                return;
            case refusal_fate::retry:
                out.outcome = file_outcome::retry;
                out.reason = r.message;
                return;
            case refusal_fate::reject:
                out.problems.push_back({0, "", std::string(code_of(r.kind)), r.message});
                reject(name, out);
                return;
        }
    }
    opened_file& file = opened.file;
    file_source source(file.fd.get(), file.size);

    reader_options ro;
    ro.file_name = std::string(name);
    ro.file_sha256 = sha256_hex(source, buffer_);
    ro.accounts = options_.accounts;
    ro.on_invalid_recipient = options_.on_invalid_recipient;
    ro.max_line_bytes = options_.max_line_bytes;
    ro.max_problems = options_.max_problems;
    source.rewind();

    session_sink sink(store_, stop,
                      {.now = options_.now(),
                       .on_conflict = store::conflict_policy::reject_file,
                       .source = std::string(name)});
    read_report rr;
    std::optional<store::store_error> store_error;
    try {
        rr = read_job_file(*kind_of(name), source, ro, sink);
    } catch (const store_failure& f) {
        store_error = f.error;
    }
    // Dropping `sink` without finish() aborts the session: every early return below commits nothing.
    out.batches = rr.batches;
    out.jobs = rr.jobs;
    out.skipped = rr.skipped;
    out.problems = std::move(rr.problems);

    struct stat now {};
    if (::fstat(file.fd.get(), &now) != 0 || !same_content(file.st, now)) {
        out.outcome = file_outcome::retry;
        out.reason = "the file changed while it was read (drop files by rename, SPEC §3)";
        return;
    }
    if (!store_error && !rr.rejected && sink.session() != nullptr) {
        auto committed = sink.session()->finish();
        if (committed) {
            out.inserted = committed->inserted;
            out.already_present = committed->already_present;
            out.duplicates = committed->duplicates;
            out.conflicts = committed->conflicts;
        } else {
            store_error = committed.error();
        }
    }
    if (store_error) {
        if (!is_file_fault(*store_error)) {
            out.outcome = file_outcome::retry;
            out.reason = store_error->message();
            return;
        }
        if (store_error->code == store::store_errc::batch_conflict) {
            out.conflicts = 1;
        }
        out.problems.insert(out.problems.begin(), store_problem(*store_error));
        reject(name, out);
        return;
    }
    if (rr.rejected) {
        if (sink.session() != nullptr) {
            sink.session()->abort("the file was rejected");
        }
        reject(name, out);
        return;
    }
    accept(name, out);
}

void spool_ingester::reject(std::string_view name, file_report& out) {
    out.inserted = out.already_present = out.duplicates = 0;
    if (out.problems.empty()) {
        out.problems.push_back({0, "", "REJECTED", "the file was rejected"});
    }
    out.outcome =
        write_report_and_move(name, dirs_.rejected(), out) ? file_outcome::rejected : file_outcome::retry;
}

void spool_ingester::accept(std::string_view name, file_report& out) {
    // Committed: from here on the jobs are queued whatever happens. If the move fails the file stays in
    // incoming/ and its next ingest finds every job already present.
    out.outcome =
        write_report_and_move(name, dirs_.accepted(), out) ? file_outcome::accepted : file_outcome::retry;
}

bool spool_ingester::write_report_and_move(std::string_view name, int to_dir, file_report& out) {
    // The report first: a crash between the two leaves a report without its file (the file is handled again
    // and gets a second one), never a file without its report.
    const std::string dest =
        spool_dirs::free_name(name, to_dir, out.problems.empty() ? -1 : dirs_.rejected());
    if (dest.empty()) {
        out.reason = fmt::format("no free name for it (more than {} files of that name)", max_name_suffix);
        return false;
    }
    if (!out.problems.empty()) {
        const std::string report = dest + std::string(report_suffix);
        if (auto ec =
                write_file_atomically(dirs_.rejected(), report, error_report_json(name, out.problems))) {
            out.reason = fmt::format("writing rejected/{} failed: {}", printable_name(report), ec.message());
            return false;
        }
        out.report_file = report;
    }
    bool moved = false;
    const std::error_code ec = dirs_.move(name, to_dir, dest, moved);
    if (moved) {
        out.moved_to = dest;
    }
    if (ec) {
        out.reason = fmt::format("moving it failed: {}", ec.message());
    }
    return moved;
}

void spool_ingester::log(const file_report& r) {
    const std::string name = printable_name(r.file);
    const std::string counts =
        fmt::format("{} batches, {} jobs read, {} inserted, {} already present, {} duplicates, {} skipped",
                    r.batches, r.jobs, r.inserted, r.already_present, r.duplicates, r.skipped);
    // Codes and places only: a problem's message may quote the file's content (DESIGN: no bodies at info).
    const auto first_problem = [&] {
        if (r.problems.empty()) {
            return std::string();
        }
        const problem& p = r.problems.front();
        return fmt::format("; {} problems, first {} at line {}{}{}", r.problems.size(), p.code, p.line,
                           p.field.empty() ? "" : " field ", valid_utf8(p.field));
    };
    switch (r.outcome) {
        case file_outcome::accepted:
            logger_->info("spool: {} accepted as accepted/{}: {}{}", name, printable_name(r.moved_to), counts,
                          first_problem());
            break;
        case file_outcome::rejected:
            logger_->warn("spool: {} rejected as rejected/{}{}{}", name, printable_name(r.moved_to),
                          first_problem(), r.conflicts != 0 ? " (batch conflict)" : "");
            break;
        case file_outcome::retry:
            logger_->warn("spool: {} left in incoming/ to retry at the next scan: {}", name, r.reason);
            return;
        case file_outcome::ignored:
            if (r.code == code_of(refusal_kind::directory)) {
                if (directories_seen_.size() >= max_directories_remembered) {
                    directories_seen_.clear();
                }
                if (directories_seen_.insert(r.file).second) {
                    logger_->warn("spool: {} is a directory; left alone", name);
                }
            } else {
                logger_->debug("spool: {} ignored: {}", name, r.reason);
            }
            return;
    }
    if (!r.reason.empty()) {
        // Moved, but an fsync after the move failed: the move may not survive a power cut.
        logger_->warn("spool: {}: {}", name, r.reason);
    }
}

}  // namespace msgflash::spool
