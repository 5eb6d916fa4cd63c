#include "report/reporter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include "report/report_format.hpp"
#include "store/queue_ops.hpp"
#include "store/queue_store.hpp"

namespace msgflash::report {

namespace {

// Finished batches listed per read transaction.
constexpr std::size_t batches_per_page = 1'000;
// The most of a summary file read back (ours are well under 4 KiB).
constexpr std::size_t max_summary_bytes = 64 * 1024;

// The file `name` in `dir_fd`, up to `limit` bytes; nullopt when it cannot be read.
std::optional<std::string> read_small_file(int dir_fd, const std::string& name, std::size_t limit) {
    const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || text.size() + static_cast<std::size_t>(n) > limit) {
            ::close(fd);
            return n == 0 ? std::optional<std::string>(std::move(text)) : std::nullopt;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace

bool write_batch_report(store::queue_reader& reader, int dir_fd, const store::finished_batch& batch,
                        timestamp now, std::size_t page_rows, std::stop_token stop, report_written& out,
                        std::string& error) {
    auto progress = reader.deliveries_of(batch.rowid);
    if (!progress) {
        error = "reading its deliveries: " + progress.error().message();
        return false;
    }
    const std::string stem = file_stem(batch.id);
    std::error_code ec;
    summary_builder summary;
    {
        atomic_file csv(dir_fd, stem + std::string(csv_suffix), ec);
        if (ec) {
            error =
                "creating " + atomic_file::temp_name(stem + std::string(csv_suffix)) + ": " + ec.message();
            return false;
        }
        csv.write(csv_header());
        store::report_cursor cursor(reader, batch.rowid, page_rows);
        std::string line;
        for (;;) {
            if (stop.stop_requested()) {
                error = "stopped";
                return false;
            }
            auto page = cursor.next();
            if (!page) {
                error = "reading its jobs: " + page.error().message();
                return false;
            }
            if (page->empty()) {
                break;
            }
            for (const store::report_row& r : *page) {
                line.clear();
                append_csv_row(line, r);
                csv.write(line);
                summary.add(r);
            }
        }
        if (auto e = csv.commit()) {
            error = "writing " + stem + std::string(csv_suffix) + ": " + e.message();
            return false;
        }
    }
    summary_info info;
    info.batch = batch.id;
    info.account = batch.account;
    info.generated_at = now;
    info.finished_at = batch.finished_at;
    info.deliveries_checked_at = progress->last_checked;
    info.campaign = progress->campaign;
    atomic_file json(dir_fd, stem + std::string(summary_suffix), ec);
    if (ec) {
        error =
            "creating " + atomic_file::temp_name(stem + std::string(summary_suffix)) + ": " + ec.message();
        return false;
    }
    json.write(summary.json(info));
    if (auto e = json.commit()) {
        error = "writing " + stem + std::string(summary_suffix) + ": " + e.message();
        return false;
    }
    out.rows = summary.rows();
    out.final = summary.final();
    out.deliveries_checked_at = progress->last_checked;
    return true;
}

reporter::reporter(store::queue_store& store, reporter_options options)
    : store_(store),
      options_(std::move(options)),
      log_(options_.logger ? options_.logger : spdlog::default_logger()) {}

reporter::~reporter() {
    stop();
}

void reporter::start() {
    thread_ = std::jthread([this](std::stop_token stop) {
        while (!stop.stop_requested()) {
            run_once(stop);
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, stop, options_.interval, [] { return false; });
        }
    });
}

void reporter::stop() {
    if (thread_.joinable()) {
        thread_.request_stop();
        thread_.join();
    }
}

timestamp reporter::now() const {
    if (options_.clock) {
        return options_.clock();
    }
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::size_t reporter::run_once(std::stop_token stop) {
    const timestamp t = now();
    store::collect_finished_batches collect;
    collect.now = t;
    auto finished = store_.submit(std::move(collect));
    if (!finished) {
        log_->error("reports: cannot mark finished batches: {}", finished.error().message());
    } else {
        for (const std::string& id : *finished) {
            log_->info("batch {}: every job has ended; writing its report", id);
        }
    }
    if (!dir_) {
        std::error_code ec;
        dir_ = dir_handle::open(options_.reports_dir.string(), ec);
        if (ec) {
            log_->error("reports: cannot open {}: {}", options_.reports_dir.string(), ec.message());
            return 0;
        }
    }
    if (!reader_) {
        auto r = store::queue_reader::open({.path = store_.options().path});
        if (!r) {
            log_->error("reports: cannot read the queue: {}", r.error().message());
            return 0;
        }
        reader_.emplace(std::move(*r));
    }
    std::size_t written = 0;
    std::int64_t after = 0;
    for (;;) {
        auto page = reader_->finished_batches(after, batches_per_page);
        if (!page) {
            log_->error("reports: cannot list the finished batches: {}", page.error().message());
            reader_.reset();  // opened again at the next pass
            return written;
        }
        for (const store::finished_batch& b : *page) {
            if (stop.stop_requested()) {
                return written;
            }
            written += consider(b, t, stop) ? 1 : 0;
        }
        if (page->size() < batches_per_page) {
            return written;
        }
        after = page->back().rowid;
    }
}

std::optional<reporter::known_report> reporter::read_known(const std::string& stem) {
    const auto text = read_small_file(dir_.fd(), stem + std::string(summary_suffix), max_summary_bytes);
    if (!text) {
        return std::nullopt;
    }
    const auto state = read_summary_state(*text);
    if (!state) {
        return std::nullopt;
    }
    known_report k;
    k.final = state->final;
    k.deliveries_checked_ms = state->deliveries_checked_ms;
    k.counts = state->states;
    return k;
}

bool reporter::consider(const store::finished_batch& b, timestamp now, std::stop_token stop) {
    auto it = known_.find(b.id);
    if (it == known_.end()) {
        if (auto k = read_known(file_stem(b.id))) {
            it = known_.emplace(b.id, *k).first;
        }
    }
    const auto steady_now = std::chrono::steady_clock::now();
    if (const auto f = failed_.find(b.id);
        f != failed_.end() && steady_now - f->second < options_.min_rewrite_interval) {
        return false;  // it failed a moment ago (a full disk?): not again at every pass
    }
    if (it != known_.end() && it->second.counts == b.counts) {
        known_report& k = it->second;
        if (k.final) {
            return false;
        }
        // Reading a batch's deliveries reads every sent job of it (a second for a million): a batch whose
        // report is not final is looked at no more often than it may be rewritten.
        if (k.looked_at && steady_now - *k.looked_at < options_.min_rewrite_interval) {
            return false;
        }
        k.looked_at = steady_now;
        auto progress = reader_->deliveries_of(b.rowid);
        if (!progress) {
            log_->error("report {}: cannot read its deliveries: {}", b.id, progress.error().message());
            return false;
        }
        const bool newer =
            progress->last_checked &&
            (!k.deliveries_checked_ms || to_millis(*progress->last_checked) > *k.deliveries_checked_ms);
        if (!newer) {
            return false;
        }
    }
    report_written w;
    std::string error;
    if (!write_batch_report(*reader_, dir_.fd(), b, now, options_.page_rows, stop, w, error)) {
        if (!stop.stop_requested()) {
            log_->error("report {}: {}; tried again in {} ms", b.id, error,
                        options_.min_rewrite_interval.count());
            failed_[b.id] = steady_now;
        }
        return false;
    }
    failed_.erase(b.id);
    known_report k;
    k.final = w.final;
    k.deliveries_checked_ms = w.deliveries_checked_at
                                  ? std::optional<std::int64_t>(to_millis(*w.deliveries_checked_at))
                                  : std::nullopt;
    k.counts = b.counts;
    k.looked_at = steady_now;
    known_[b.id] = k;
    log_->info("report {}: {} row(s) in {}/{}{}{}", b.id, w.rows, options_.reports_dir.string(),
               file_stem(b.id), csv_suffix,
               w.final ? " (final)" : " (deliveries still reconciled: not final)");
    return true;
}

}  // namespace msgflash::report
