// The MsgFlash API client: every endpoint the daemon uses as a coroutine returning api_result<T> — the typed
// answer or a failure with its one verdict (SPEC §5) — over an http_pool to api.base_url.
// The key goes into the x-api-key header and nowhere else; logging goes to an injected spdlog logger.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "api/api_result.hpp"
#include "api/api_types.hpp"
#include "api/http_pool.hpp"
#include "config/api_keys.hpp"
#include "config/config.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::api {

struct client_options {
    pool_options pool;
    std::string user_agent;  // empty: "msgflashd/<version>"
};

// The [api] section (SPEC §10) as client options: base_url, timeout (also the queueing bound),
// connect_timeout (also the TLS handshake's), max_connections, ca_file.
client_options make_client_options(const api_config& config);

struct paging_options {
    std::size_t max_pages = 100;  // the helper stops there (complete = false, next_cursor says where)
    // Awaited before every page request, the first included; false stops the walk the same way. For the key's
    // pacer: every request made with a key takes one of its tokens (SPEC §6).
    std::function<boost::asio::awaitable<bool>()> before_page;
};

// Requests carry: x-api-key (api_key::reveal()), X-Team-Id for team keys, Accept: application/json,
// User-Agent: msgflashd/<version>, and Content-Type: application/json when they have a body.
//
// Logging (never the key, nor any header): debug for every answer; info for requests that never left
// (not_sent); warn for ambiguous ones and for answers that cannot be read (status and a short sanitized
// excerpt of the body); info once per unknown field of a health document (SPEC §11).
//
// Threading and lifetime are http_pool's: use the client from its executor's thread; destroy it there (or
// after the io_context has stopped), and before the io_context. Arguments are taken by value, so an awaitable
// may outlive the expressions it was made from.
class api_client {
  public:
    // Throws std::invalid_argument (plain http:// off this machine, …) or std::runtime_error (ca_file) —
    // see http_pool. `log` defaults to a logger that discards everything.
    api_client(boost::asio::any_io_executor executor, client_options options,
               std::shared_ptr<spdlog::logger> log = {});
    // Requests still running keep the client's state alive and finish; once none is left the pool shuts down
    // (call shutdown() first to end them at once).
    ~api_client();
    api_client(const api_client&) = delete;
    api_client& operator=(const api_client&) = delete;

    template <class T>
    using call = boost::asio::awaitable<api_result<T>>;

    // Messages
    // `on_write`: called as the request is written (http_request::on_write), for the key's pacer.
    call<message_ref> send_message(api_key key, send_request request, std::function<void()> on_write = {});
    call<message_ref> schedule_message(api_key key, schedule_request request);
    call<message_details> get_message(api_key key, std::string id);
    call<message_page> list_messages(api_key key, message_query query = {});
    // Follows nextCursor from `query.cursor` until hasMore is false, at most options.max_pages pages. A page
    // that fails ends the walk with that page's failure.
    call<message_collection> list_all_messages(api_key key, message_query query = {},
                                               paging_options options = {});

    // Instances
    call<std::vector<instance>> list_instances(api_key key);
    call<instance> get_instance(api_key key, std::string id);
    call<instance_state> get_instance_state(api_key key, std::string id);
    call<instance_health> get_instance_health(api_key key, std::string id);

    // Campaigns; `body` as documented for POST /campaigns (the caller removes file-only fields like account).
    call<campaign> create_campaign(api_key key, boost::json::object body,
                                   std::function<void()> on_write = {});
    call<campaign> get_campaign(api_key key, std::string id);
    call<campaign_stats> get_campaign_stats(api_key key, std::string id);
    call<campaign> pause_campaign(api_key key, std::string id);
    call<campaign> resume_campaign(api_key key, std::string id);

    // Templates
    call<std::vector<message_template>> list_templates(api_key key);
    call<message_template> get_template(api_key key, std::string id);
    call<template_preview> preview_template(api_key key, std::string id,
                                            template_preview_request request = {});

    // Usage and billing (personal keys)
    call<usage_summary> get_usage(api_key key);
    call<subscription> get_billing_subscription(api_key key);
    call<billing_usage> get_billing_usage(api_key key);

    // Every queued and in-flight request completes promptly with asio::error::operation_aborted (not_sent, or
    // ambiguous when it had been written); idle connections close. The client stays usable.
    void cancel_all();
    // cancel_all(), and every later request fails at once (not_sent, operation_aborted). Afterwards the
    // client leaves no work on its executor.
    void shutdown();

    pool_stats stats() const;
    const client_options& options() const;

    struct state;

  private:
    std::shared_ptr<state> state_;
};

}  // namespace msgflash::api
