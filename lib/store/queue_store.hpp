// The queue's single writer (DESIGN "Rules the data depends on"): one writable SQLite connection owned by a
// dedicated thread (WAL, synchronous=FULL) that runs every write with group commit. Callers hand it
// operations — typed commands from queue_ops.hpp or their own closures taking write_context& — and get the
// result after the transaction holding it has committed: co_await it (any Asio completion token, completed on
// the token's executor) or block for it (tools, tests; never on the writer thread).
//
// Group commit: the writer takes every pending operation (up to max_group_ops), runs each inside its own
// SAVEPOINT within one IMMEDIATE transaction, commits once, then completes them all. An operation that fails
// rolls back to its savepoint and reports its own error; the others commit. Operations are not cancellable:
// once submitted, a write happens or fails, and its caller hears which.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>

#include "store/completion.hpp"
#include "store/queue_types.hpp"
#include "store/store_error.hpp"
#include "store/write_context.hpp"

namespace msgflash::store {

class ingest_session;

namespace detail {

// One unit of work for the writer thread.
class write_op {
  public:
    virtual ~write_op() = default;
    // Runs inside the group's transaction and the op's savepoint. Throws on failure (the savepoint is then
    // rolled back). Returns true to be run again after this group commits (a chunked operation).
    virtual bool run(write_context& w) = 0;
    // The op's writes were rolled back (its own failure, the group's lost transaction) or it never ran.
    virtual void fail(store_error e) noexcept = 0;
    // Delivers the result (or the failure): called once, after the commit, on the writer thread.
    virtual void complete() noexcept = 0;
    // Runs alone in its own transaction, without a savepoint (a large operation such as an ingest).
    virtual bool exclusive() const noexcept { return false; }
    // An exclusive operation that writes only ids it has just read or created in its own transaction may run
    // with foreign keys unchecked (a lookup per reference per row saved); the writer turns them back on
    // after.
    virtual bool references_checked_by_itself() const noexcept { return false; }
    // Operations with the same non-null key that follow each other in a group may run as one: run_together()
    // gets all of them (this one first) and sets each one's result, or throws — the writer then rolls back
    // and runs them one by one.
    virtual const void* batch_key() const noexcept { return nullptr; }
    virtual void run_together(write_context&, std::span<write_op* const>) {}
};

// An operation type whose consecutive instances can run as one (see write_op::batch_key).
template <typename Op>
concept runs_together = requires(write_context& w, std::span<const Op* const> ops) {
    {Op::run_many(w, ops)};
};

template <typename Op>
inline constexpr char batch_tag = 0;

template <typename R>
struct op_value {
    using type = R;
};
template <typename T>
struct op_value<chunk_step<T>> {
    using type = T;
};
template <typename Op>
using op_value_t = typename op_value<std::invoke_result_t<Op&, write_context&>>::type;

template <typename Op>
class command_op final : public write_op {
  public:
    using value_type = op_value_t<Op>;
    using result_type = store_result<value_type>;

    command_op(Op op, std::unique_ptr<completion<result_type>> done)
        : op_(std::move(op)), done_(std::move(done)) {}

    bool run(write_context& w) override {
        using R = std::invoke_result_t<Op&, write_context&>;
        if constexpr (std::is_void_v<R>) {
            op_(w);
            result_.emplace();
        } else if constexpr (std::is_same_v<R, chunk_step<value_type>>) {
            chunk_step<value_type> s = op_(w);
            if (s.again) {
                return true;
            }
            result_.emplace(boost::system::in_place_value, std::move(s.value));
        } else {
            result_.emplace(boost::system::in_place_value, op_(w));
        }
        return false;
    }

    void fail(store_error e) noexcept override {
        result_.emplace(boost::system::in_place_error, std::move(e));
    }

    const void* batch_key() const noexcept override {
        if constexpr (runs_together<Op>) {
            return &batch_tag<Op>;
        } else {
            return nullptr;
        }
    }

    void run_together(write_context& w, std::span<write_op* const> ops) override {
        if constexpr (runs_together<Op>) {
            std::vector<const Op*> cmds;
            cmds.reserve(ops.size());
            for (write_op* op : ops) {
                cmds.push_back(&static_cast<command_op&>(*op).op_);
            }
            auto results = Op::run_many(w, std::span<const Op* const>(cmds));
            for (std::size_t i = 0; i < ops.size(); ++i) {
                static_cast<command_op&>(*ops[i]).result_.emplace(std::move(results.at(i)));
            }
        } else {
            (void)w;
            (void)ops;
        }
    }

    void complete() noexcept override {
        if (!result_) {
            result_.emplace(boost::system::in_place_error, make_store_error(store_errc::operation_failed));
        }
        done_->complete(std::move(*result_));
    }

  private:
    Op op_;
    std::unique_ptr<completion<result_type>> done_;
    std::optional<result_type> result_;
};

struct writer_impl;

}  // namespace detail

class queue_store {
  public:
    // Opens (creating if needed) and migrates the database, starts the writer thread, and recovers jobs left
    // inflight by a crash (options.recovery) before anything else runs.
    static store_result<std::unique_ptr<queue_store>> open(store_options options);

    // Runs what is pending, stops the writer and closes the connection.
    ~queue_store();
    queue_store(const queue_store&) = delete;
    queue_store& operator=(const queue_store&) = delete;

    // Completes every operation already submitted, then stops; later submissions fail with `closed`.
    void close();

    const store_options& options() const noexcept;
    const recovery_report& recovery() const noexcept;  // what open() found inflight
    writer_stats stats() const noexcept;

    // Submits `op` (callable as R(write_context&), R possibly chunk_step<T> or void) and waits for its
    // transaction to commit. Must not be called on the writer thread (store_errc::wrong_thread).
    template <typename Op>
    store_result<detail::op_value_t<std::decay_t<Op>>> submit(Op&& op) {
        using D = std::decay_t<Op>;
        using result_type = store_result<detail::op_value_t<D>>;
        auto waiter = std::make_shared<detail::blocking_completion<result_type>>();
        if (on_writer_thread()) {
            return result_type(boost::system::in_place_error, make_store_error(store_errc::wrong_thread));
        }
        enqueue(std::make_unique<detail::command_op<D>>(
            std::forward<Op>(op), std::make_unique<detail::shared_completion<result_type>>(waiter)));
        return waiter->wait();
    }

    // The same, completing `token` with store_result<T> after the commit, on the token's associated
    // executor. With GCC 12, build the command in a named variable first —
    //     claim_jobs cmd{request};
    //     auto r = co_await store.async_submit(std::move(cmd), asio::use_awaitable);
    // — a temporary with a destructor inside a co_await expression is miscompiled (a double free).
    template <typename Op, typename CompletionToken>
    auto async_submit(Op&& op, CompletionToken&& token) {
        using D = std::decay_t<Op>;
        using result_type = store_result<detail::op_value_t<D>>;
        return boost::asio::async_initiate<CompletionToken, void(result_type)>(
            [this](auto handler, D o) {
                enqueue(std::make_unique<detail::command_op<D>>(
                    std::move(o), detail::make_posted_completion<result_type>(std::move(handler))));
            },
            token, D(std::forward<Op>(op)));
    }

    // Starts ingesting one file: the returned session streams its jobs to a single writer operation through a
    // bounded channel, so the whole file commits in one transaction with flat memory (ingest.hpp).
    std::unique_ptr<ingest_session> begin_ingest(ingest_options options);

    // For tests and tools: run `op` from inside the writer (e.g. to queue an operation that itself blocks).
    void enqueue(std::unique_ptr<detail::write_op> op);

  private:
    explicit queue_store(std::unique_ptr<detail::writer_impl> impl);
    bool on_writer_thread() const noexcept;

    std::unique_ptr<detail::writer_impl> impl_;
};

}  // namespace msgflash::store
