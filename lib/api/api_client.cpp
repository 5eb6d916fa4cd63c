// Each endpoint is one request built by api_requests.cpp, carried by the pool, decoded by api_decode.cpp;
// this file adds the headers, the logging and the paging walk.
#include "api/api_client.hpp"

#include <chrono>
#include <set>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "api/api_decode.hpp"
#include "api/api_requests.hpp"
#include "core/version.hpp"

namespace msgflash::api {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

// What replaces the key should a server echo it back in a body or error message.
constexpr std::string_view key_placeholder = "<api key>";
// Unknown health fields are logged once each; a server inventing new names forever cannot grow this past
// here.
constexpr std::size_t max_reported_fields = 256;
constexpr std::size_t field_name_chars = 64;

std::chrono::microseconds as_us(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
}

double as_ms(steady::duration d) {
    return static_cast<double>(as_us(d).count()) / 1000.0;
}

}  // namespace

client_options make_client_options(const api_config& c) {
    client_options o;
    o.pool.origin = c.base_url;
    o.pool.request_timeout = c.timeout;
    o.pool.queue_timeout = c.timeout;
    o.pool.connect_timeout = c.connect_timeout;
    o.pool.handshake_timeout = c.connect_timeout;
    o.pool.max_connections = c.max_connections;
    o.pool.ca_file = c.ca_file;
    return o;
}

struct api_client::state {
    state(asio::any_io_executor ex, client_options o, std::shared_ptr<spdlog::logger> l)
        : log(l ? std::move(l)
                : std::make_shared<spdlog::logger>("msgflash.api",
                                                   std::make_shared<spdlog::sinks::null_sink_mt>())),
          pool(std::move(ex), o.pool, log),
          options(std::move(o)) {
        if (options.user_agent.empty()) {
            options.user_agent = std::string("msgflashd/") + msgflash::version;
        }
        if (options.user_agent.find_first_of("\r\n") != std::string::npos) {
            throw std::invalid_argument("the User-Agent must be one line");
        }
        fixed_fields = "User-Agent: " + options.user_agent + "\r\nAccept: application/json\r\n";
    }

    // The header lines of a request: User-Agent, Accept, the key, X-Team-Id for team keys, Content-Type when
    // there is a body. The key goes here and nowhere else; the pool wipes these bytes once they are sent.
    http_request build(const endpoint_request& e, const api_key& key) const {
        http_request req;
        req.method = e.method == http_method::get ? std::string_view("GET") : std::string_view("POST");
        req.target = e.target;
        req.on_write = e.on_write;
        req.fields.reserve(fixed_fields.size() + key.reveal().size() + 96);
        req.fields.append(fixed_fields).append("x-api-key: ").append(key.reveal()).append("\r\n");
        if (key.is_team()) {
            req.fields.append("X-Team-Id: ").append(key.team_id()).append("\r\n");
        }
        if (!e.body.empty()) {
            req.fields.append("Content-Type: application/json\r\n");
            req.body = e.body;
        }
        return req;
    }

    template <class T>
    api_result<T> finish(const api_key& key, const endpoint_request& e, http_exchange& x,
                         steady::time_point started) {
        const exchange_info info{x.status, steady::now() - started, x.connection_id, x.reused_connection,
                                 x.replayed};
        const std::string_view method = e.method == http_method::get ? "GET" : "POST";
        const redaction redact{key.reveal(), key_placeholder};
        if (x.outcome == transport_outcome::answered) {
            auto d = decode_answer<T>(raw_answer{x.status, x.content_type, x.body, x.retry_after},
                                      std::chrono::system_clock::now(), redact);
            if (auto* value = std::get_if<T>(&d)) {
                log->debug("msgflash api: {} {} -> {} in {:.1f} ms (connection #{}{}{})", method, e.target,
                           x.status, as_ms(info.latency), x.connection_id,
                           x.reused_connection ? ", reused" : "", x.replayed ? ", replayed" : "");
                after_success(e, *value);
                return api_result<T>(std::move(*value), info);
            }
            auto& f = std::get<api_failure>(d);
            log_failure(method, e, f, info);
            return api_result<T>(std::move(f), info);
        }
        api_failure f;
        f.outcome = x.outcome;
        f.http_status = x.status;
        f.ec = x.ec;
        f.detail = std::move(x.detail);
        log_failure(method, e, f, info);
        return api_result<T>(std::move(f), info);
    }

    void log_failure(std::string_view method, const endpoint_request& e, const api_failure& f,
                     const exchange_info& info) const {
        const double ms = as_ms(info.latency);
        switch (f.outcome) {
            case transport_outcome::answered:
                log->debug("msgflash api: {} {} -> {} {} in {:.1f} ms{}", method, e.target, f.http_status,
                           f.error ? f.error->code : std::string(), ms,
                           f.retry_after ? fmt::format(" (Retry-After {} s)", f.retry_after->count())
                                         : std::string());
                break;
            case transport_outcome::unparseable:
                log->warn("msgflash api: {} {} -> {}: unreadable answer: {}; body starts \"{}\"", method,
                          e.target, f.http_status, f.detail, f.body_excerpt);
                break;
            case transport_outcome::ambiguous:
                log->warn(
                    "msgflash api: {} {}: written, no answer after {:.1f} ms ({}): the server may have acted",
                    method, e.target, ms, f.detail);
                break;
            case transport_outcome::not_sent:
                log->info("msgflash api: {} {}: not sent ({})", method, e.target, f.detail);
                break;
        }
    }

    template <class T>
    void after_success(const endpoint_request&, const T&) {}

    void after_success(const endpoint_request& e, const instance_health& h) {
        for (const auto& name : h.unknown_fields) {
            if (reported_fields.size() >= max_reported_fields) {
                return;
            }
            const std::string clean = sanitize_excerpt(name, field_name_chars);
            if (reported_fields.insert(clean).second) {
                log->info("msgflash api: {}: ignoring unknown field \"{}\" (reported once)", e.target, clean);
            }
        }
    }

    std::shared_ptr<spdlog::logger> log;
    http_pool pool;
    client_options options;
    std::set<std::string, std::less<>> reported_fields;
    std::string fixed_fields;  // the header lines every request carries
};

namespace {

template <class T>
asio::awaitable<api_result<T>> call_endpoint(std::shared_ptr<api_client::state> st, api_key key,
                                             endpoint_request e) {
    const auto started = steady::now();
    http_exchange x = co_await st->pool.execute(st->build(e, key), e.idempotent);
    co_return st->finish<T>(key, e, x, started);
}

asio::awaitable<api_result<message_collection>> walk_pages(std::shared_ptr<api_client::state> st, api_key key,
                                                           message_query query, paging_options options) {
    const auto started = steady::now();
    message_collection all;
    all.next_cursor = query.cursor;
    exchange_info last{};
    while (all.pages < options.max_pages) {
        if (options.before_page) {
            const bool go = co_await options.before_page();
            if (!go) {
                break;
            }
        }
        api_result<message_page> page =
            co_await call_endpoint<message_page>(st, key, list_messages_request(query));
        if (!page) {
            co_return page.rebind_failure<message_collection>();
        }
        ++all.pages;
        last = page.exchange();
        auto& messages = page->messages;
        all.messages.insert(all.messages.end(), std::make_move_iterator(messages.begin()),
                            std::make_move_iterator(messages.end()));
        if (!page->has_more) {
            all.complete = true;
            all.next_cursor.reset();
            break;
        }
        if (query.cursor && *query.cursor == *page->next_cursor) {
            st->log->warn(
                "msgflash api: GET /api/v1/messages returned the cursor it was given; stopping the walk");
            break;
        }
        query.cursor = page->next_cursor;
        all.next_cursor = query.cursor;
    }
    last.latency = steady::now() - started;
    co_return api_result<message_collection>(std::move(all), last);
}

}  // namespace

api_client::api_client(asio::any_io_executor executor, client_options options,
                       std::shared_ptr<spdlog::logger> log)
    : state_(std::make_shared<state>(std::move(executor), std::move(options), std::move(log))) {}

api_client::~api_client() = default;

auto api_client::send_message(api_key key, send_request request, std::function<void()> on_write)
    -> call<message_ref> {
    endpoint_request e = send_message_request(request);
    e.on_write = std::move(on_write);
    return call_endpoint<message_ref>(state_, std::move(key), std::move(e));
}

auto api_client::schedule_message(api_key key, schedule_request request) -> call<message_ref> {
    return call_endpoint<message_ref>(state_, std::move(key), schedule_message_request(request));
}

auto api_client::get_message(api_key key, std::string id) -> call<message_details> {
    return call_endpoint<message_details>(state_, std::move(key), get_message_request(id));
}

auto api_client::list_messages(api_key key, message_query query) -> call<message_page> {
    return call_endpoint<message_page>(state_, std::move(key), list_messages_request(query));
}

auto api_client::list_all_messages(api_key key, message_query query, paging_options options)
    -> call<message_collection> {
    return walk_pages(state_, std::move(key), std::move(query), std::move(options));
}

auto api_client::list_instances(api_key key) -> call<std::vector<instance>> {
    return call_endpoint<std::vector<instance>>(state_, std::move(key), list_instances_request());
}

auto api_client::get_instance(api_key key, std::string id) -> call<instance> {
    return call_endpoint<instance>(state_, std::move(key), get_instance_request(id));
}

auto api_client::get_instance_state(api_key key, std::string id) -> call<instance_state> {
    return call_endpoint<instance_state>(state_, std::move(key), instance_state_request(id));
}

auto api_client::get_instance_health(api_key key, std::string id) -> call<instance_health> {
    return call_endpoint<instance_health>(state_, std::move(key), instance_health_request(id));
}

auto api_client::create_campaign(api_key key, boost::json::object body, std::function<void()> on_write)
    -> call<campaign> {
    endpoint_request e = create_campaign_request(body);
    e.on_write = std::move(on_write);
    return call_endpoint<campaign>(state_, std::move(key), std::move(e));
}

auto api_client::get_campaign(api_key key, std::string id) -> call<campaign> {
    return call_endpoint<campaign>(state_, std::move(key), get_campaign_request(id));
}

auto api_client::get_campaign_stats(api_key key, std::string id) -> call<campaign_stats> {
    return call_endpoint<campaign_stats>(state_, std::move(key), campaign_stats_request(id));
}

auto api_client::pause_campaign(api_key key, std::string id) -> call<campaign> {
    return call_endpoint<campaign>(state_, std::move(key), pause_campaign_request(id));
}

auto api_client::resume_campaign(api_key key, std::string id) -> call<campaign> {
    return call_endpoint<campaign>(state_, std::move(key), resume_campaign_request(id));
}

auto api_client::list_templates(api_key key) -> call<std::vector<message_template>> {
    return call_endpoint<std::vector<message_template>>(state_, std::move(key), list_templates_request());
}

auto api_client::get_template(api_key key, std::string id) -> call<message_template> {
    return call_endpoint<message_template>(state_, std::move(key), get_template_request(id));
}

auto api_client::preview_template(api_key key, std::string id, template_preview_request request)
    -> call<template_preview> {
    return call_endpoint<template_preview>(state_, std::move(key), preview_template_request(id, request));
}

auto api_client::get_usage(api_key key) -> call<usage_summary> {
    return call_endpoint<usage_summary>(state_, std::move(key), usage_request());
}

auto api_client::get_billing_subscription(api_key key) -> call<subscription> {
    return call_endpoint<subscription>(state_, std::move(key), billing_subscription_request());
}

auto api_client::get_billing_usage(api_key key) -> call<billing_usage> {
    return call_endpoint<billing_usage>(state_, std::move(key), billing_usage_request());
}

void api_client::cancel_all() {
    state_->pool.cancel_all();
}

void api_client::shutdown() {
    state_->pool.shutdown();
}

pool_stats api_client::stats() const {
    return state_->pool.stats();
}

const client_options& api_client::options() const {
    return state_->options;
}

}  // namespace msgflash::api
