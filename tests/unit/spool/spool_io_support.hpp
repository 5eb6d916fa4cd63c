// Shared by the spool's file tests (unit and integration): a spool and a queue database in a temporary
// directory, job files made to measure, a look inside the database, and a logger whose lines the test reads.
#pragma once

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "spool/spool_dirs.hpp"
#include "spool/spool_ingester.hpp"
#include "store/sqlite.hpp"
#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::spool::test {

namespace fs = std::filesystem;
using store::test::t0;
using store::test::temp_dir;

inline constexpr std::string_view instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

// A batch file (SPEC §3) of `n` recipients: to "+336<8 digits>", ref "r<i>", a name variable; recipients
// first..first+n-1, so that two files can share or not share their recipients.
inline std::string batch_file(std::string_view batch, std::size_t n, std::size_t first = 0,
                              std::string_view body = "Hi {{name}}") {
    std::string s = fmt::format(
        R"({{"batch":"{}","account":"shop","instanceId":"{}","message":{{"type":"text","body":"{}"}},)"
        "\n"
        R"("recipients":[)",
        batch, instance_id, body);
    for (std::size_t i = first; i < first + n; ++i) {
        fmt::format_to(std::back_inserter(s),
                       "{}\n{{\"to\":\"+336{:08}\",\"ref\":\"r{}\",\"variables\":{{\"name\":\"N{}\"}}}}",
                       i == first ? "" : ",", i, i, i);
    }
    s += "]}\n";
    return s;
}

// A line file: one text job per line, refs "l<i>" in `batch`.
inline std::string line_file(std::string_view batch, std::size_t n, std::size_t first = 0) {
    std::string s;
    for (std::size_t i = first; i < first + n; ++i) {
        fmt::format_to(
            std::back_inserter(s),
            R"({{"batch":"{}","ref":"l{}","account":"shop","instanceId":"{}","to":"+337{:08}","type":"text","body":"Code {}"}})"
            "\n",
            batch, i, instance_id, i, i);
    }
    return s;
}

inline void write_file(const fs::path& p, std::string_view content) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out.flush()) {
        throw std::runtime_error("cannot write " + p.string());
    }
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The safe drop of SPEC §3: write a dot-file, then rename it into place.
inline void drop(const fs::path& incoming, const std::string& name, std::string_view content) {
    const fs::path temp = incoming / ("." + name + ".part");
    write_file(temp, content);
    fs::rename(temp, incoming / name);
}

// Names in a directory, sorted (raw bytes: some tests use names that are not UTF-8); none when it does not
// exist yet (a process killed before it made its spool directories accepted nothing).
inline std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    if (!fs::exists(dir)) {
        return out;
    }
    for (const auto& e : fs::directory_iterator(dir)) {
        out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Read-only queries on the queue database (another connection than the writer's, as msgflashctl's).
class db_view {
  public:
    explicit db_view(const fs::path& db) : c_(db, store::connection::mode::read_only) {}

    std::int64_t jobs(std::string_view batch) {
        store::statement st(
            c_.get(), "SELECT count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = ?1");
        st.bind(1, batch);
        st.step();
        return st.int64(0);
    }
    std::int64_t all_jobs() { return c_.query_int("SELECT count(*) FROM jobs"); }
    std::int64_t distinct_jobs() {
        return c_.query_int("SELECT count(*) FROM (SELECT DISTINCT batch_id, ref FROM jobs)");
    }
    std::string integrity() { return c_.query_text("PRAGMA integrity_check"); }
    bool has_table(std::string_view name) {
        store::statement st(c_.get(),
                            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1");
        st.bind(1, name);
        st.step();
        return st.int64(0) > 0;
    }

  private:
    store::connection c_;
};

// A logger keeping its last lines in memory, for assertions on what was logged.
struct captured_log {
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
        std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024);
    std::shared_ptr<spdlog::logger> logger = [this] {
        auto l = std::make_shared<spdlog::logger>("spool-test", sink);
        l->set_level(spdlog::level::debug);
        return l;
    }();

    std::vector<std::string> lines() const { return sink->last_formatted(); }
    std::size_t count(std::string_view needle) const {
        const auto l = lines();
        return static_cast<std::size_t>(std::count_if(
            l.begin(), l.end(), [&](const std::string& s) { return s.find(needle) != s.npos; }));
    }
};

// A spool (incoming/, accepted/, rejected/) and a queue database in a temporary directory, with an ingester.
class spool_fixture {
  public:
    explicit spool_fixture(ingester_options o = {}) {
        std::error_code ec;
        fs::create_directories(root.path() / "spool");
        dirs = spool_dirs::open(root.path() / "spool", ec);
        if (!dirs) {
            throw std::system_error(ec, "spool_dirs::open");
        }
        store_ = store::test::open_store(store::test::options_for(db()));
        if (!store_) {
            throw std::runtime_error("cannot open the queue");
        }
        o.accounts = {"shop"};
        o.now = [] { return t0; };
        o.logger = log.logger;
        ingester = std::make_unique<spool_ingester>(*dirs, *store_, std::move(o));
    }

    fs::path incoming() const { return root.path() / "spool" / "incoming"; }
    fs::path accepted() const { return root.path() / "spool" / "accepted"; }
    fs::path rejected() const { return root.path() / "spool" / "rejected"; }
    fs::path db() const { return root.path() / "queue.db"; }
    store::queue_store& queue() { return *store_; }

    temp_dir root;
    captured_log log;
    std::optional<spool_dirs> dirs;
    std::unique_ptr<store::queue_store> store_;
    std::unique_ptr<spool_ingester> ingester;
};

}  // namespace msgflash::spool::test
