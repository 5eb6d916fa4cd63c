// The engine's ports over the real things: queue_store (its writer thread, completions posted back to the
// engine's executor), api_client with the accounts' keys, and the system clocks with one steady_timer.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api/api_client.hpp"
#include "config/api_keys.hpp"
#include "engine/engine_ports.hpp"
#include "store/queue_store.hpp"

namespace msgflash::engine {

class store_queue_port final : public queue_port {
  public:
    explicit store_queue_port(store::queue_store& store) : store_(store) {}
    boost::asio::awaitable<store::store_result<store::claim_result>> claim(store::claim_request r) override;
    boost::asio::awaitable<store::store_result<job_state>> record(store::job_result r) override;
    boost::asio::awaitable<store::store_result<job_state>> unclaim(store::unclaim_request r) override;
    boost::asio::awaitable<store::store_result<store::batch_info>> batch(std::int64_t rowid) override;
    boost::asio::awaitable<store::store_result<store::hold_info>> hold(store::hold_request r) override;
    boost::asio::awaitable<store::store_result<store::release_report>> release(hold_scope scope,
                                                                               std::string subject,
                                                                               timestamp now) override;
    boost::asio::awaitable<store::store_result<std::vector<store::delivery_check>>> claim_deliveries(
        std::string account, timestamp now, std::size_t limit, timestamp lease_until) override;
    boost::asio::awaitable<store::store_result<void>> record_delivery(store::delivery_update u) override;

  private:
    store::queue_store& store_;
};

class client_send_port final : public send_port {
  public:
    client_send_port(api::api_client& client, std::map<std::string, api_key, std::less<>> keys)
        : client_(client), keys_(std::move(keys)) {}
    boost::asio::awaitable<api::api_result<api::message_ref>> send(std::string account, api::send_request r,
                                                                   std::function<void()> on_write) override;
    boost::asio::awaitable<api::api_result<api::campaign>> create_campaign(
        std::string account, boost::json::object body, std::function<void()> on_write) override;
    boost::asio::awaitable<api::api_result<std::vector<api::instance>>> list_instances(
        std::string account) override;
    boost::asio::awaitable<api::api_result<api::instance_health>> instance_health(std::string account,
                                                                                  std::string id) override;
    boost::asio::awaitable<api::api_result<api::template_preview>> preview_template(
        std::string account, std::string id, api::template_preview_request r) override;
    boost::asio::awaitable<api::api_result<api::message_details>> get_message(std::string account,
                                                                              std::string id) override;
    boost::asio::awaitable<api::api_result<api::campaign_stats>> campaign_stats(std::string account,
                                                                                std::string id) override;
    boost::asio::awaitable<api::api_result<api::message_page>> list_messages(std::string account,
                                                                             api::message_query q) override;
    void cancel_all() override { client_.cancel_all(); }
    // POST /campaigns/{id}/pause or /resume with the account's key (msgflashctl campaign pause|resume).
    boost::asio::awaitable<api::api_result<api::campaign>> campaign_action(std::string account,
                                                                           std::string id, bool pause);
    // SIGHUP: the requests that follow use these (those in flight keep the key they left with).
    void replace_keys(std::map<std::string, api_key, std::less<>> keys) { keys_ = std::move(keys); }

  private:
    // Runs `call(key)` with the account's key; without one (a wiring error: the daemon refuses to start
    // without every key) the request is answered as one that never left.
    template <class T, class Call>
    boost::asio::awaitable<api::api_result<T>> with_key(const std::string& account, Call call);

    api::api_client& client_;
    std::map<std::string, api_key, std::less<>> keys_;
};

class system_time_port final : public time_port {
  public:
    explicit system_time_port(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}
    timestamp now() const override;
    pace_time steady_now() const override { return pace_clock::now(); }
    boost::asio::awaitable<void> sleep_until(pace_time deadline) override;
    void wake() override;

  private:
    boost::asio::steady_timer timer_;
    bool waiting_ = false;
    bool woken_ = false;  // wake() came while nobody slept: the next sleep returns at once
};

}  // namespace msgflash::engine
