// `validate FILE` (a dry run of the spool's own reader, printing the report rejected/<name>.error.json would
// hold) and `submit FILE` (the same check, then the safe drop of SPEC §3: a dot-name in incoming/, fsync,
// rename without replacing, fsync of the directory).
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "daemon/ctl_commands.hpp"
#include "daemon/ctl_format.hpp"
#include "spool/error_report.hpp"
#include "spool/job_reader.hpp"
#include "spool/safe_open.hpp"
#include "spool/spool_dirs.hpp"
#include "spool/spool_ingester.hpp"

namespace msgflash::ctl {

namespace json = boost::json;

namespace {

constexpr std::size_t read_buffer_bytes = 256 * 1024;
// Reports list at most this many problems on a terminal; --json prints them all (up to the reader's cap).
constexpr std::size_t problems_shown = 50;

// Counts what the reader would queue; remembers each batch's id and fingerprint (for the conflict check).
class counting_sink final : public spool::job_sink {
  public:
    struct batch_seen {
        std::string id;
        std::string account;
        std::string fingerprint;
        std::uint64_t jobs = 0;
    };
    std::size_t begin_batch(batch_spec spec) override {
        batches.push_back({spec.id, spec.account, spec.fingerprint, 0});
        return batches.size() - 1;
    }
    void add_job(std::size_t batch, job_spec) override { ++batches[batch].jobs; }
    std::vector<batch_seen> batches;
};

struct verdict {
    bool rejected = false;
    std::vector<spool::problem> problems;
    std::uint64_t batches = 0;
    std::uint64_t jobs = 0;
    std::uint64_t skipped = 0;
    std::vector<counting_sink::batch_seen> seen;
};

// What the daemon's ingester would decide for this file: the same name and size rules, the same reader with
// the configured accounts and policy, and (when the queue can be read) the same batch-conflict check.
verdict check_file(const context& ctx, int fd, const struct stat& st, const std::string& name) {
    verdict v;
    auto reject = [&](spool::refusal_kind kind, std::string message) {
        v.rejected = true;
        v.problems.push_back({0, "", std::string(spool::code_of(kind)), std::move(message)});
    };
    if (auto n = spool::check_name(name); n.verdict != spool::name_class::candidate) {
        reject(spool::refusal_kind::bad_name,
               n.verdict == spool::name_class::in_progress
                   ? "a dot-file or *.tmp name is never ingested: give the file its final name"
                   : n.why);
        return v;
    }
    if (!S_ISREG(st.st_mode)) {
        reject(spool::refusal_kind::not_regular, "not a regular file");
        return v;
    }
    if (static_cast<std::uint64_t>(st.st_size) > ctx.cfg.spool.max_file_bytes) {
        reject(spool::refusal_kind::too_large, fmt::format("{} bytes, over spool.max_file_bytes ({})",
                                                           st.st_size, ctx.cfg.spool.max_file_bytes));
        return v;
    }
    if (st.st_size == 0) {
        reject(spool::refusal_kind::empty, "the file is empty");
        return v;
    }
    spool::file_source source(fd, static_cast<std::uint64_t>(st.st_size));
    spool::reader_options ro;
    ro.file_name = name;
    std::vector<char> hash_buffer(read_buffer_bytes);
    ro.file_sha256 = spool::sha256_hex(source, hash_buffer);
    source.rewind();
    for (const auto& a : ctx.cfg.accounts) {
        ro.accounts.push_back(a.name);
    }
    ro.on_invalid_recipient = ctx.cfg.spool.on_invalid_recipient;
    ro.max_line_bytes = ctx.cfg.spool.max_line_bytes;
    counting_sink sink;
    spool::read_report rr = spool::read_job_file(*spool::kind_of(name), source, ro, sink);
    v.rejected = rr.rejected;
    v.problems = std::move(rr.problems);
    v.batches = rr.batches;
    v.jobs = rr.jobs;
    v.skipped = rr.skipped;
    v.seen = std::move(sink.batches);
    // The store refuses a batch id already queued with other content (BATCH_CONFLICT, first in the report).
    if (!v.rejected && std::filesystem::exists(ctx.cfg.queue.path)) {
        if (auto reader = store::queue_reader::open({.path = ctx.cfg.queue.path})) {
            for (const auto& b : v.seen) {
                auto stored = reader->batch(b.id);
                if (stored && *stored && !b.fingerprint.empty() && !(*stored)->fingerprint.empty() &&
                    (*stored)->fingerprint != b.fingerprint) {
                    v.rejected = true;
                    v.problems.insert(
                        v.problems.begin(),
                        {0, "batch", "BATCH_CONFLICT",
                         fmt::format("batch \"{}\" is already queued with other content", b.id)});
                    break;
                }
            }
        }
    }
    return v;
}

void print_verdict(const context& ctx, const std::string& name, const verdict& v, bool strict) {
    if (ctx.cmd.json) {
        return;  // the report alone, printed by the caller
    }
    const bool bad = v.rejected || (strict && !v.problems.empty());
    if (bad) {
        fmt::print(ctx.out, "{}: REJECTED, {} problem(s)\n", name, v.problems.size());
    } else {
        fmt::print(ctx.out, "{}: ok, {} batch(es), {} job(s){}\n", name, v.batches, v.jobs,
                   v.skipped > 0 ? fmt::format(", {} recipient(s) skipped", v.skipped) : std::string());
    }
    if (!v.problems.empty()) {
        table t({{"LINE", table::align::right}, {"FIELD"}, {"CODE"}, {"MESSAGE"}});
        for (std::size_t i = 0; i < v.problems.size() && i < problems_shown; ++i) {
            const auto& p = v.problems[i];
            t.add_row({std::to_string(p.line), p.field.empty() ? "-" : spool::printable_name(p.field), p.code,
                       spool::printable_name(p.message)});
        }
        fmt::print(ctx.out, "{}", t.render());
        if (v.problems.size() > problems_shown) {
            fmt::print(ctx.out, "… and {} more (--json prints every one)\n",
                       v.problems.size() - problems_shown);
        }
    }
}

// Copies `fd` into incoming/ under a dot-name, fsyncs it and renames it to the first free variant of
// `name` (never replacing a file already there). Returns the final name, or an error message.
std::pair<std::string, std::string> drop(int fd, const std::filesystem::path& spool_dir,
                                         const std::string& name) {
    // Never created here: a missing incoming/ means a wrong spool.dir or a daemon never started.
    const std::filesystem::path dir = spool_dir / "incoming";
    spool::unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) {
        return {{}, fmt::format("cannot open {}: {}", dir.string(), std::strerror(errno))};
    }
    const int incoming = dir_fd.get();
    const std::string temp = fmt::format(".{}.{}.submit.tmp", name, ::getpid());
    spool::unique_fd out(
        ::openat(incoming, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!out) {
        return {{}, fmt::format("cannot create incoming/{}: {}", temp, std::strerror(errno))};
    }
    auto fail = [&](std::string what) -> std::pair<std::string, std::string> {
        ::unlinkat(incoming, temp.c_str(), 0);
        return {{}, std::move(what)};
    };
    if (::lseek(fd, 0, SEEK_SET) != 0) {
        return fail(fmt::format("lseek: {}", std::strerror(errno)));
    }
    std::vector<char> buffer(read_buffer_bytes);
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail(fmt::format("reading the file: {}", std::strerror(errno)));
        }
        if (n == 0) {
            break;
        }
        for (ssize_t off = 0; off < n;) {
            const ssize_t w = ::write(out.get(), buffer.data() + off, static_cast<std::size_t>(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                return fail(fmt::format("writing incoming/{}: {}", temp, std::strerror(errno)));
            }
            off += w;
        }
    }
    if (::fsync(out.get()) != 0) {
        return fail(fmt::format("fsync of incoming/{}: {}", temp, std::strerror(errno)));
    }
    out.reset();
    for (unsigned n = 0; n <= spool::max_name_suffix; ++n) {
        const std::string final_name = spool::suffixed_name(name, n);
        if (::renameat2(incoming, temp.c_str(), incoming, final_name.c_str(), RENAME_NOREPLACE) == 0) {
            (void)spool::fsync_dir(incoming);  // renamed: a failed fsync of the directory does not undo it
            return {final_name, {}};
        }
        if (errno == EEXIST) {
            continue;
        }
        if (errno == EINVAL && spool::spool_dirs::is_free(incoming, final_name)) {
            // No RENAME_NOREPLACE on this file system.
            if (::renameat(incoming, temp.c_str(), incoming, final_name.c_str()) == 0) {
                (void)spool::fsync_dir(incoming);
                return {final_name, {}};
            }
        }
        return fail(fmt::format("rename to incoming/{}: {}", final_name, std::strerror(errno)));
    }
    return fail(fmt::format("every name for {} is taken in incoming/", name));
}

}  // namespace

int run_validate(const context& ctx, bool submit) {
    const std::filesystem::path path = ctx.cmd.positional[0];
    const std::string name = path.filename().string();
    spool::unique_fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        fmt::print(ctx.err, "msgflashctl: cannot open {}: {}\n", path.string(), std::strerror(errno));
        return exit_failure;
    }
    struct stat before {};
    if (::fstat(fd.get(), &before) != 0) {
        fmt::print(ctx.err, "msgflashctl: fstat {}: {}\n", path.string(), std::strerror(errno));
        return exit_failure;
    }
    verdict v;
    try {
        v = check_file(ctx, fd.get(), before, name);
    } catch (const std::exception& e) {
        fmt::print(ctx.err, "msgflashctl: reading {} failed: {}\n", path.string(), e.what());
        return exit_failure;
    }
    const bool strict = ctx.cmd.flag("--strict");
    const bool bad = v.rejected || (strict && !v.problems.empty());
    if (ctx.cmd.json && !submit) {
        // Exactly what rejected/<name>.error.json would hold.
        fmt::print(ctx.out, "{}", spool::error_report_json(name, v.problems));
    }
    print_verdict(ctx, name, v, strict);
    if (!submit || bad) {
        if (submit) {
            fmt::print(ctx.err, "msgflashctl: {} not submitted: the daemon would reject it\n", name);
            if (ctx.cmd.json) {
                fmt::print(ctx.out, "{}", spool::error_report_json(name, v.problems));
            }
        }
        return bad ? exit_failure : exit_ok;
    }
    auto [dropped, error] = drop(fd.get(), ctx.cfg.spool.dir, name);
    if (!error.empty()) {
        fmt::print(ctx.err, "msgflashctl: {}\n", error);
        return exit_failure;
    }
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0 || !spool::same_content(before, after)) {
        // The copy may hold a mix of old and new bytes: the daemon validates it anyway, but say so.
        fmt::print(ctx.err,
                   "msgflashctl: warning: {} changed while it was copied; incoming/{} holds the copy\n",
                   path.string(), dropped);
    }
    if (ctx.cmd.json) {
        json::array batches;
        for (const auto& b : v.seen) {
            batches.push_back(json::object{{"batch", b.id}, {"account", b.account}, {"jobs", b.jobs}});
        }
        fmt::print(
            ctx.out, "{}\n",
            json::serialize(json::object{{"submitted", (ctx.cfg.spool.dir / "incoming" / dropped).string()},
                                         {"jobs", v.jobs},
                                         {"skipped", v.skipped},
                                         {"batches", std::move(batches)}}));
    } else {
        fmt::print(ctx.out, "submitted as {}\n", (ctx.cfg.spool.dir / "incoming" / dropped).string());
    }
    return exit_ok;
}

}  // namespace msgflash::ctl
