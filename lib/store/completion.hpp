// Handing a result computed on the writer thread back to whoever waits for it: an Asio completion handler
// (posted to its associated executor, which is kept from running out of work meanwhile) or a blocked thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

namespace msgflash::store::detail {

// Receives one R, exactly once, from any thread.
template <typename R>
class completion {
  public:
    virtual ~completion() = default;
    virtual void complete(R r) = 0;
};

template <typename R, typename Handler>
class posted_completion final : public completion<R> {
  public:
    explicit posted_completion(Handler h)
        : handler_(std::move(h)),
          work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_),
                                    boost::asio::execution::outstanding_work.tracked)) {}

    void complete(R r) override {
        // The work-tracking executor keeps the caller's io_context from returning while we are pending; the
        // handler runs there, never on the writer thread.
        boost::asio::post(
            work_, [h = std::move(handler_), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
    }

  private:
    Handler handler_;
    std::decay_t<decltype(boost::asio::prefer(std::declval<boost::asio::associated_executor_t<Handler>>(),
                                              boost::asio::execution::outstanding_work.tracked))>
        work_;
};

template <typename R, typename Handler>
std::unique_ptr<completion<R>> make_posted_completion(Handler h) {
    return std::make_unique<posted_completion<R, Handler>>(std::move(h));
}

// A thread blocked until the result arrives (the blocking variants of the API).
template <typename R>
class blocking_completion final : public completion<R> {
  public:
    void complete(R r) override {
        std::lock_guard lock(m_);
        result_.emplace(std::move(r));
        cv_.notify_all();
    }
    R wait() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return result_.has_value(); });
        return std::move(*result_);
    }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    std::optional<R> result_;
};

// Shares a blocking_completion between the waiter and the writer.
template <typename R>
class shared_completion final : public completion<R> {
  public:
    explicit shared_completion(std::shared_ptr<blocking_completion<R>> target) : target_(std::move(target)) {}
    void complete(R r) override { target_->complete(std::move(r)); }

  private:
    std::shared_ptr<blocking_completion<R>> target_;
};

}  // namespace msgflash::store::detail
