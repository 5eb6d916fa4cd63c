// In-memory doubles for the job-file readers' tests: byte sources over a string or a generator, and a
// sink that records what it is given.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "spool/job_reader.hpp"

namespace msgflash::spool::testing {

// A source over a string, handing out at most `chunk` bytes per read (to cross every boundary).
class string_source final : public byte_source {
  public:
    explicit string_source(std::string text, std::size_t chunk = std::size_t(-1))
        : text_(std::move(text)), chunk_(chunk) {}

    std::size_t read(std::span<char> into) override {
        const std::size_t n = std::min({into.size(), chunk_, text_.size() - pos_});
        std::copy_n(text_.data() + pos_, n, into.data());
        pos_ += n;
        return n;
    }
    void rewind() override {
        pos_ = 0;
        ++rewinds;
    }

    int rewinds = 0;

  private:
    std::string text_;
    std::size_t chunk_;
    std::size_t pos_ = 0;
};

// A source whose bytes are produced piece by piece (a head, `count` generated pieces, a tail), so that a
// 100 MB file never exists in the test's memory either.
class generated_source final : public byte_source {
  public:
    generated_source(std::string head, std::size_t count,
                     std::function<void(std::size_t, std::string&)> piece, std::string tail)
        : head_(std::move(head)), tail_(std::move(tail)), count_(count), piece_(std::move(piece)) {
        rewind();
    }

    std::size_t read(std::span<char> into) override {
        std::size_t n = 0;
        while (n < into.size()) {
            if (pos_ == buffer_.size()) {
                if (!refill()) {
                    break;
                }
            }
            const std::size_t k = std::min(into.size() - n, buffer_.size() - pos_);
            std::copy_n(buffer_.data() + pos_, k, into.data() + n);
            pos_ += k;
            n += k;
        }
        return n;
    }
    void rewind() override {
        buffer_ = head_;
        pos_ = 0;
        next_ = 0;
        tail_given_ = false;
    }

  private:
    bool refill() {
        buffer_.clear();
        pos_ = 0;
        if (next_ < count_) {
            piece_(next_++, buffer_);
            return true;
        }
        if (!tail_given_) {
            tail_given_ = true;
            buffer_ = tail_;
            return !buffer_.empty();
        }
        return false;
    }

    std::string head_;
    std::string tail_;
    std::size_t count_;
    std::function<void(std::size_t, std::string&)> piece_;
    std::string buffer_;
    std::size_t pos_ = 0;
    std::size_t next_ = 0;
    bool tail_given_ = false;
};

class recording_sink final : public job_sink {
  public:
    std::size_t begin_batch(batch_spec spec) override {
        batches.push_back(std::move(spec));
        return batches.size() - 1;
    }
    void add_job(std::size_t batch, job_spec job) override {
        if (keep_jobs) {
            jobs.emplace_back(batch, std::move(job));
        }
        ++job_count;
    }

    bool keep_jobs = true;
    std::size_t job_count = 0;
    std::vector<batch_spec> batches;
    std::vector<std::pair<std::size_t, job_spec>> jobs;
};

}  // namespace msgflash::spool::testing
