// The batch reader at scale: memory stays flat whatever the recipient count, and (disabled by default) the
// reader's own speed, printed for the record, never asserted.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <malloc.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spool/job_reader.hpp"
#include "spool_test_support.hpp"

namespace msgflash::spool {
namespace {

using testing::generated_source;
using testing::recording_sink;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool heap_is_measurable = false;  // the sanitizers' allocators do not report to mallinfo2
#else
constexpr bool heap_is_measurable = true;
#endif

// The header comes after the recipients: the reader must then take two passes, never buffer them.
generated_source big_batch(std::size_t recipients) {
    return generated_source(R"({"recipients":[)", recipients,
                            [](std::size_t i, std::string& out) {
                                out.append(i == 0 ? "\n" : ",\n");
                                out.append(R"({"to":"+336)");
                                const auto digits = std::to_string(10'000'000 + i);
                                out.append(digits.substr(digits.size() - 8));
                                out.append(R"(","variables":{"name":"Customer )");
                                out.append(digits);
                                out.append(R"("}})");
                            },
                            "\n],\n"
                            R"("batch":"big","instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7",)"
                            R"("message":{"type":"text","body":"Hi {{name}}, -30% today only"}})"
                            "\n");
}

reader_options big_options() {
    reader_options o;
    o.file_name = "big.json";
    o.file_sha256 = std::string(64, 'f');
    o.accounts = {"shop"};
    return o;
}

// Records the heap in use every few thousand jobs.
class heap_watching_sink final : public job_sink {
  public:
    std::size_t begin_batch(batch_spec) override { return 0; }
    void add_job(std::size_t, job_spec job) override {
        constexpr std::size_t sample_every = 4096;
        last_line = job.line;
        if (++jobs % sample_every == 0) {
            peak = std::max(peak, mallinfo2().uordblks);
        }
    }
    std::size_t jobs = 0;
    std::size_t peak = 0;
    std::uint64_t last_line = 0;
};

TEST(SpoolReaderScale, MemoryStaysFlatOverTwoHundredThousandRecipients) {
    constexpr std::size_t recipients = 200'000;  // about 16 MB of JSON
    auto source = big_batch(recipients);
    heap_watching_sink sink;
    const auto before = mallinfo2().uordblks;
    const auto report = read_job_file(file_kind::batch_json, source, big_options(), sink);
    ASSERT_FALSE(report.rejected);
    EXPECT_EQ(sink.jobs, recipients);
    EXPECT_EQ(sink.last_line, recipients + 1);
    if (heap_is_measurable) {
        constexpr std::size_t bound = 4 * 1024 * 1024;  // generous next to one recipient and the header
        EXPECT_LT(sink.peak - std::min(sink.peak, before), bound);
    }
}

double cpu_seconds() {
    return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

// Run with --gtest_also_run_disabled_tests --gtest_filter='*Throughput*' on a release build. CPU time is
// printed beside wall time because the machine may be shared; the generator's own cost (making the bytes)
// is measured apart and taken out.
TEST(SpoolReaderScale, DISABLED_ReaderThroughput) {
    constexpr std::size_t recipients = 1'000'000;
    std::vector<char> chunk(64 * 1024);
    auto bytes = big_batch(recipients);
    const auto gen_start = cpu_seconds();
    std::size_t total = 0;
    for (int pass = 0; pass < 2; ++pass) {  // the reader takes two passes
        bytes.rewind();
        while (const auto n = bytes.read(chunk)) {
            total += n;
        }
    }
    const double generator = cpu_seconds() - gen_start;

    auto source = big_batch(recipients);
    recording_sink sink;
    sink.keep_jobs = false;
    const auto start = std::chrono::steady_clock::now();
    const auto cpu_start = cpu_seconds();
    const auto report = read_job_file(file_kind::batch_json, source, big_options(), sink);
    const double cpu = cpu_seconds() - cpu_start;
    const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(report.rejected);
    ASSERT_EQ(sink.job_count, recipients);
    std::printf(
        "batch reader: %zu recipients, %.1f MB read twice; wall %.3f s, cpu %.3f s, of which "
        "generating the bytes %.3f s => reader alone %.0f recipients/s (cpu)\n",
        recipients, static_cast<double>(total) / 2e6, wall.count(), cpu, generator,
        static_cast<double>(recipients) / (cpu - generator));
}

TEST(SpoolReaderScale, DISABLED_LineReaderThroughput) {
    constexpr std::size_t lines = 1'000'000;
    generated_source source(
        "", lines,
        [](std::size_t i, std::string& out) {
            out.append(R"({"batch":"otp","instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","ref":"o-)");
            out.append(std::to_string(i));
            out.append(R"(","to":"+33612345678","type":"text","body":"Code {{code}}","variables":{"code":)");
            out.append(std::to_string(i % 10'000));
            out.append("}}\n");
        },
        "");
    recording_sink sink;
    sink.keep_jobs = false;
    auto options = big_options();
    options.file_name = "otp.ndjson";
    const auto cpu_start = cpu_seconds();
    const auto report = read_job_file(file_kind::line_json, source, options, sink);
    const double cpu = cpu_seconds() - cpu_start;
    ASSERT_FALSE(report.rejected);
    ASSERT_EQ(sink.job_count, lines);
    std::printf("line reader: %zu lines, cpu %.3f s (bytes generated included) => %.0f lines/s\n", lines, cpu,
                static_cast<double>(lines) / cpu);
}

}  // namespace
}  // namespace msgflash::spool
