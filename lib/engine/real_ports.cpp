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

asio::awaitable<store::store_result<store::hold_info>> store_queue_port::hold(store::hold_request r) {
    store::place_hold cmd{std::move(r)};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<store::release_report>> store_queue_port::release(hold_scope scope,
                                                                                      std::string subject,
                                                                                      timestamp now) {
    store::release_hold cmd(scope, std::move(subject), now);
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<std::vector<store::delivery_check>>> store_queue_port::claim_deliveries(
    std::string account, timestamp now, std::size_t limit, timestamp lease_until) {
    store::claim_deliveries cmd{
        .account = std::move(account), .now = now, .limit = limit, .lease_until = lease_until};
    co_return co_await store_.async_submit(std::move(cmd), asio::use_awaitable);
}

asio::awaitable<store::store_result<void>> store_queue_port::record_delivery(store::delivery_update u) {
    store::record_delivery cmd{std::move(u)};
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

template <class T, class Call>
asio::awaitable<api::api_result<T>> client_send_port::with_key(const std::string& account, Call call) {
    const auto key = keys_.find(account);
    if (key == keys_.end()) {
        co_return no_key<T>(account);
    }
    auto op = call(key->second);
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::message_ref>> client_send_port::send(std::string account,
                                                                          api::send_request r,
                                                                          std::function<void()> on_write) {
    auto op = with_key<api::message_ref>(account, [&](const api_key& k) {
        return client_.send_message(k, std::move(r), std::move(on_write));
    });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::campaign>> client_send_port::create_campaign(
    std::string account, boost::json::object body, std::function<void()> on_write) {
    auto op = with_key<api::campaign>(account, [&](const api_key& k) {
        return client_.create_campaign(k, std::move(body), std::move(on_write));
    });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<std::vector<api::instance>>> client_send_port::list_instances(
    std::string account) {
    auto op = with_key<std::vector<api::instance>>(
        account, [&](const api_key& k) { return client_.list_instances(k); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::instance_health>> client_send_port::instance_health(std::string account,
                                                                                         std::string id) {
    auto op = with_key<api::instance_health>(
        account, [&](const api_key& k) { return client_.get_instance_health(k, std::move(id)); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::template_preview>> client_send_port::preview_template(
    std::string account, std::string id, api::template_preview_request r) {
    auto op = with_key<api::template_preview>(
        account, [&](const api_key& k) { return client_.preview_template(k, std::move(id), std::move(r)); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::message_details>> client_send_port::get_message(std::string account,
                                                                                     std::string id) {
    auto op = with_key<api::message_details>(
        account, [&](const api_key& k) { return client_.get_message(k, std::move(id)); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::message_page>> client_send_port::list_messages(std::string account,
                                                                                    api::message_query q) {
    auto op = with_key<api::message_page>(
        account, [&](const api_key& k) { return client_.list_messages(k, std::move(q)); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::campaign_stats>> client_send_port::campaign_stats(std::string account,
                                                                                       std::string id) {
    auto op = with_key<api::campaign_stats>(
        account, [&](const api_key& k) { return client_.get_campaign_stats(k, std::move(id)); });
    co_return co_await std::move(op);
}

asio::awaitable<api::api_result<api::campaign>> client_send_port::campaign_action(std::string account,
                                                                                  std::string id,
                                                                                  bool pause) {
    auto op = with_key<api::campaign>(account, [&](const api_key& k) {
        return pause ? client_.pause_campaign(k, std::move(id)) : client_.resume_campaign(k, std::move(id));
    });
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
