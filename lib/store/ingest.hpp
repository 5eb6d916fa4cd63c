// Ingesting one spool file: the producer (the file's reader) streams batches and jobs in chunks through a
// bounded channel to ONE writer operation, so the file's jobs commit in one transaction — all or nothing —
// while memory holds only a few chunks. Idempotent: a job already queued under (batch, ref) is counted, not
// queued again; a batch id already queued with another fingerprint is a conflict (ingest_options).
//
//   auto s = store.begin_ingest({.now = now, .source = "shop.json"});
//   auto b = s->begin_batch(spec);
//   for (each recipient) { s->add_job(b, job); if (s->should_flush()) s->flush(); }   // or co_await
//   async_flush auto report = s->finish();                                                          // or
//   co_await async_finish
//
// While a session is open the writer thread serves nothing else: produce promptly, and never wait for another
// queue operation between begin_ingest and finish (the writer gives up after ingest_idle_timeout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>

#include "store/completion.hpp"
#include "store/queue_types.hpp"
#include "store/store_error.hpp"

namespace msgflash::store {

class queue_store;

namespace detail {

struct ingest_chunk {
    std::vector<batch_spec> batches;                       // begun since the previous chunk, in order
    std::vector<std::pair<std::uint32_t, job_spec>> jobs;  // (batch index in begin order, job)
    bool last = false;                                     // finish(): nothing follows
};

class ingest_channel;

}  // namespace detail

class ingest_session {
  public:
    ~ingest_session();  // an unfinished session is aborted: nothing of it is committed
    ingest_session(const ingest_session&) = delete;
    ingest_session& operator=(const ingest_session&) = delete;

    // Starts (or continues, if its id is already queued) a batch; returns its index for add_job.
    std::size_t begin_batch(batch_spec spec);

    // Buffers one job of a begun batch. When should_flush(), hand the buffer over with flush/async_flush
    // before adding more (add_job never blocks; an unflushed buffer just grows).
    void add_job(std::size_t batch, job_spec job);
    bool should_flush() const noexcept { return buffer_.jobs.size() >= chunk_jobs_; }

    // Hands the buffered chunk to the writer, waiting while the channel is full. Fails once the writer side
    // has ended (its error says why, e.g. batch_conflict).
    store_result<void> flush();

    template <typename CompletionToken>
    auto async_flush(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(store_result<void>)>(
            [this](auto handler) {
                flush_async(detail::make_posted_completion<store_result<void>>(std::move(handler)));
            },
            token);
    }

    // Sends what is buffered and the end of the file, then waits until the transaction holding every job of
    // the file has committed (or failed: nothing of it is queued).
    store_result<ingest_report> finish();

    template <typename CompletionToken>
    auto async_finish(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(store_result<ingest_report>)>(
            [this](auto handler) {
                finish_async(detail::make_posted_completion<store_result<ingest_report>>(std::move(handler)));
            },
            token);
    }

    // Gives up on the file (it is bad after all): the writer rolls back whatever it had of it.
    void abort(std::string reason);

  private:
    friend class queue_store;
    ingest_session(std::shared_ptr<detail::ingest_channel> channel, std::size_t chunk_jobs);

    void flush_async(std::unique_ptr<detail::completion<store_result<void>>> done);
    void finish_async(std::unique_ptr<detail::completion<store_result<ingest_report>>> done);
    detail::ingest_chunk take_buffer();

    std::shared_ptr<detail::ingest_channel> channel_;
    detail::ingest_chunk buffer_;
    std::size_t chunk_jobs_;
    std::size_t batches_ = 0;
    bool ended_ = false;
};

}  // namespace msgflash::store
