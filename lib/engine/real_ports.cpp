#include "engine/real_ports.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store/queue_ops.hpp"

namespace msgflash::engine {

namespace asio = boost::asio;

asio::awaitable<store::store_result<store::claim_result>> store_queue_port::claim(store::claim_request r) {
    store::claim_jobs cmd{std::move(r)};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<job_state>> store_queue_port::record(store::job_result r) {
    store::record_result cmd{std::move(r)};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<job_state>> store_queue_port::unclaim(store::unclaim_request r) {
    store::unclaim_job cmd{r};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<store::batch_info>> store_queue_port::batch(std::int64_t rowid) {
    store::get_batch cmd{.rowid = rowid, .id = {}};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

namespace {

// The engine only has lanes for configured accounts, and the daemon refuses to start without every
// account's key: a missing one is a wiring error, answered as a request that never left.
template <class T>
api::api_result<T> no_key(const std::string& account) {
    api::api_failure f{.outcome = transport_outcome::not_sent,
                       .http_status = 0,
                       .error = std::nullopt,
                       .ec = asio::error::invalid_argument,
                       .retry_after = std::nullopt,
                       .detail = "no key loaded for account " + account,
                       .body_excerpt = {}};
    return api::api_result<T>(std::move(f), api::exchange_info{});
}

}  // namespace

const api_key* client_send_port::key_of(const std::string& account) const {
    const auto key = keys_.find(account);
    return key == keys_.end() ? nullptr : &key->second;
}

asio::awaitable<api::api_result<api::message_ref>> client_send_port::send(std::string account,
                                                                          api::send_request r) {
    const api_key* key = key_of(account);
    if (key == nullptr) {
        co_return no_key<api::message_ref>(account);
    }
    auto op = client_.send_message(*key, std::move(r));
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<std::vector<api::instance>>> client_send_port::list_instances(
    std::string account) {
    const api_key* key = key_of(account);
    if (key == nullptr) {
        co_return no_key<std::vector<api::instance>>(account);
    }
    auto op = client_.list_instances(*key);
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::instance_health>> client_send_port::instance_health(std::string account,
                                                                                         std::string id) {
    const api_key* key = key_of(account);
    if (key == nullptr) {
        co_return no_key<api::instance_health>(account);
    }
    auto op = client_.get_instance_health(*key, std::move(id));
    co_return co_await std::move(op);
}

timestamp system_time_port::now() const {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

asio::awaitable<void> system_time_port::sleep_until(pace_time deadline) {
    if (woken_) {
        woken_ = false;
        co_return;
    }
    timer_.expires_at(deadline);
    waiting_ = true;
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    waiting_ = false;
    woken_ = false;
}

void system_time_port::wake() {
    if (waiting_) {
        timer_.cancel();
    } else {
        woken_ = true;
    }
}

}  // namespace msgflash::engine
