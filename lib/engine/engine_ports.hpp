// The engine's I/O boundary (DESIGN "interfaces at the I/O boundary"): the queue, the MsgFlash API and time,
// as small interfaces. The daemon plugs in queue_store, api_client and the system clock (real_ports.hpp);
// unit tests plug in recording fakes and a virtual clock.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/api_result.hpp"
#include "api/api_types.hpp"
#include "core/job.hpp"
#include "core/pacer.hpp"
#include "store/queue_types.hpp"
#include "store/store_error.hpp"

namespace msgflash::engine {

// Every call completes on the engine's executor, after the store's commit.
class queue_port {
  public:
    virtual ~queue_port() = default;
    virtual boost::asio::awaitable<store::store_result<store::claim_result>> claim(
        store::claim_request r) = 0;
    virtual boost::asio::awaitable<store::store_result<job_state>> record(store::job_result r) = 0;
    virtual boost::asio::awaitable<store::store_result<job_state>> unclaim(store::unclaim_request r) = 0;
    virtual boost::asio::awaitable<store::store_result<store::batch_info>> batch(std::int64_t rowid) = 0;
    // Places a hold; a batch's holds the batch and its pending jobs until it is released (msgflashctl
    // resume).
    virtual boost::asio::awaitable<store::store_result<store::hold_info>> hold(store::hold_request r) = 0;
    // Lifts the active hold on a subject: its held jobs go back to the queue.
    virtual boost::asio::awaitable<store::store_result<store::release_report>> release(hold_scope scope,
                                                                                       std::string subject,
                                                                                       timestamp now) = 0;
    // Reconciliation: the account's sent messages whose delivery check is due, leased until `lease_until`;
    // and what a check found.
    virtual boost::asio::awaitable<store::store_result<std::vector<store::delivery_check>>> claim_deliveries(
        std::string account, timestamp now, std::size_t limit, timestamp lease_until) = 0;
    virtual boost::asio::awaitable<store::store_result<void>> record_delivery(store::delivery_update u) = 0;
};

class send_port {
  public:
    virtual ~send_port() = default;
    // POST /messages/send with the account's key; `on_write` is called as the request is written on an
    // open connection (after any wait for one), the departure the key's pacer must count.
    virtual boost::asio::awaitable<api::api_result<api::message_ref>> send(
        std::string account, api::send_request r, std::function<void()> on_write) = 0;
    // POST /campaigns with the account's key (a *.campaign.json batch's one job); `on_write` as for send.
    virtual boost::asio::awaitable<api::api_result<api::campaign>> create_campaign(
        std::string account, boost::json::object body, std::function<void()> on_write) = 0;
    // Housekeeping with the account's key: GET /instances (each number's connection state) and
    // GET /instances/{id}/health (warm-up guidance and safetyState).
    virtual boost::asio::awaitable<api::api_result<std::vector<api::instance>>> list_instances(
        std::string account) = 0;
    virtual boost::asio::awaitable<api::api_result<api::instance_health>> instance_health(std::string account,
                                                                                          std::string id) = 0;
    // POST /templates/{id}/preview: a template batch is previewed once before its first send.
    virtual boost::asio::awaitable<api::api_result<api::template_preview>> preview_template(
        std::string account, std::string id, api::template_preview_request r) = 0;
    // Reconciliation reads with the account's key: GET /messages/{id}, and one page of GET /messages (newest
    // first, from `q.cursor`).
    virtual boost::asio::awaitable<api::api_result<api::message_details>> get_message(std::string account,
                                                                                      std::string id) = 0;
    virtual boost::asio::awaitable<api::api_result<api::message_page>> list_messages(
        std::string account, api::message_query q) = 0;
    // GET /campaigns/{id}/stats: a campaign job's recipients by delivery state.
    virtual boost::asio::awaitable<api::api_result<api::campaign_stats>> campaign_stats(std::string account,
                                                                                        std::string id) = 0;
    // Ends every request still running (written ones come back ambiguous, the others not_sent).
    virtual void cancel_all() = 0;
};

// Time for the engine: the wall clock it stamps records with, the monotonic clock it paces with, and its
// one timer (on the monotonic clock, as the pacer's times are).
class time_port {
  public:
    virtual ~time_port() = default;
    virtual timestamp now() const = 0;
    virtual pace_time steady_now() const = 0;
    // Returns at `deadline`, or earlier when wake() is called.
    virtual boost::asio::awaitable<void> sleep_until(pace_time deadline) = 0;
    virtual void wake() = 0;
};

}  // namespace msgflash::engine
