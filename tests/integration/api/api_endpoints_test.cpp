// Every endpoint the daemon uses, against msgflash-sim over loopback, plain and TLS; origin refusal; and the
// exact request the client writes (headers), read by a bare socket.
#include <array>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/version.hpp"
#include "tests/integration/api/api_test_support.hpp"

namespace msgflash::api::test {
namespace {

using tcp = asio::ip::tcp;

TEST_F(ApiTest, Instances) {
    start_sim();
    start_client();
    const auto list = run(client_->list_instances(shop_key()));
    ASSERT_TRUE(list.ok()) << list.failure().detail;
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ(list->at(0).id, shop_instance);
    EXPECT_TRUE(list->at(0).connected());
    EXPECT_EQ(list->at(0).wa_number, "+33612345678");
    EXPECT_EQ(list.verdict().act, action::sent);
    EXPECT_EQ(list.http_status(), 200u);

    const auto one = run(client_->get_instance(shop_key(), std::string(shop_instance)));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->name, "boutique-principale");

    const auto state = run(client_->get_instance_state(shop_key(), std::string(shop_instance)));
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->status, "connected");
    EXPECT_EQ(state->provider_state, "open");

    const auto health = run(client_->get_instance_health(shop_key(), std::string(shop_instance)));
    ASSERT_TRUE(health.ok()) << health.failure().detail;
    EXPECT_EQ(health->safety, safety_state::healthy);
    EXPECT_EQ(health->safety_score, 92.0);
    ASSERT_TRUE(health->warmup.has_value());
    EXPECT_EQ(health->warmup->max_per_minute, 20u);
    EXPECT_EQ(health->warmup->max_per_hour, 200u);
    EXPECT_EQ(health->warmup->max_per_day, 1000u);
    EXPECT_EQ(health->warmup->min_interval, std::chrono::milliseconds(2000));
    ASSERT_TRUE(health->usage.has_value());
    EXPECT_EQ(health->usage->last_24h, 0u);
    EXPECT_EQ(health->recommendations.size(), 1u);

    const auto missing = run(client_->get_instance(shop_key(), "00000000-0000-4000-8000-000000000000"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.outcome(), transport_outcome::answered);
    EXPECT_EQ(missing.http_status(), 404u);
    EXPECT_EQ(missing.api_code(), "NOT_FOUND");
    EXPECT_EQ(missing.verdict().act, action::fail);
}

TEST_F(ApiTest, HealthUnknownFieldsAreLoggedOnce) {
    start_sim();
    control(*sim_, "/_sim/instances/" + std::string(shop_instance),
            json::object{{"health", json::object{{"riskLevel", "low"}}}});
    start_client();
    for (int i = 0; i < 3; ++i) {
        const auto h = run(client_->get_instance_health(shop_key(), std::string(shop_instance)));
        ASSERT_TRUE(h.ok()) << h.failure().detail;
        EXPECT_EQ(h->unknown_fields, std::vector<std::string>{"riskLevel"});
    }
    int mentions = 0;
    for (const auto& line : sink_->lines()) {
        mentions += line.find("riskLevel") != std::string::npos ? 1 : 0;
    }
    EXPECT_EQ(mentions, 1);
}

TEST_F(ApiTest, Messages) {
    start_sim();
    start_client();
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        const auto sent = run(client_->send_message(shop_key(), text_to("+3361234560" + std::to_string(i))));
        ASSERT_TRUE(sent.ok()) << sent.failure().detail;
        EXPECT_EQ(sent->status, "queued");
        EXPECT_FALSE(sent->id.empty());
        EXPECT_EQ(sent.verdict().act, action::sent);
        ids.push_back(sent->id);
    }
    schedule_request later;
    later.instance_id = std::string(shop_instance);
    later.to = "+33612345699";
    later.content.template_id = std::string(welcome_template);
    later.content.variables = json::object{{"name", "Ana"}};
    later.send_at = "2099-01-01T09:00:00+01:00";
    const auto scheduled = run(client_->schedule_message(shop_key(), later));
    ASSERT_TRUE(scheduled.ok()) << scheduled.failure().detail;
    EXPECT_EQ(scheduled->status, "scheduled");

    const auto details = run(client_->get_message(shop_key(), ids[0]));
    ASSERT_TRUE(details.ok()) << details.failure().detail;
    EXPECT_EQ(details->id, ids[0]);
    EXPECT_EQ(details->to, "+33612345600");
    EXPECT_EQ(details->body, "Hello");

    message_query q;
    q.limit = 2;
    const auto page = run(client_->list_messages(shop_key(), q));
    ASSERT_TRUE(page.ok()) << page.failure().detail;
    EXPECT_EQ(page->messages.size(), 2u);
    EXPECT_TRUE(page->has_more);
    ASSERT_TRUE(page->next_cursor.has_value());

    const auto all = run(client_->list_all_messages(shop_key(), q));
    ASSERT_TRUE(all.ok()) << all.failure().detail;
    EXPECT_EQ(all->messages.size(), 6u);
    EXPECT_EQ(all->pages, 3u);
    EXPECT_TRUE(all->complete);
    EXPECT_EQ(all->next_cursor, std::nullopt);

    paging_options bounded;
    bounded.max_pages = 2;
    const auto part = run(client_->list_all_messages(shop_key(), q, bounded));
    ASSERT_TRUE(part.ok());
    EXPECT_EQ(part->messages.size(), 4u);
    EXPECT_FALSE(part->complete);
    EXPECT_TRUE(part->next_cursor.has_value());

    // The gate (the key's pacer in the daemon) is asked before every page, and can stop the walk.
    auto gates = std::make_shared<int>(0);
    paging_options gated;
    gated.before_page = [gates]() -> asio::awaitable<bool> { co_return ++*gates <= 1; };
    const auto gated_walk = run(client_->list_all_messages(shop_key(), q, gated));
    ASSERT_TRUE(gated_walk.ok());
    EXPECT_EQ(gated_walk->pages, 1u);
    EXPECT_EQ(*gates, 2);
    EXPECT_FALSE(gated_walk->complete);

    const auto bad_number = run(client_->send_message(shop_key(), text_to("12345")));
    ASSERT_FALSE(bad_number.ok());
    EXPECT_EQ(bad_number.http_status(), 422u);
    EXPECT_EQ(bad_number.api_code(), "INVALID_DESTINATION");
    EXPECT_EQ(bad_number.verdict().act, action::fail);

    const auto unknown = run(client_->get_message(shop_key(), "nope"));
    EXPECT_EQ(unknown.api_code(), "NOT_FOUND");
}

TEST_F(ApiTest, Campaigns) {
    start_sim();
    start_client();
    const json::object body{
        {"instanceId", shop_instance},
        {"name", "black-friday"},
        {"schedule", "2099-11-27T08:00:00+01:00"},
        {"recipients", json::object{{"type", "explicit"}, {"value", json::array{"c1", "c2"}}}},
        {"type", "text"},
        {"body", "-30% today"}};
    const auto created = run(client_->create_campaign(shop_key(), body));
    ASSERT_TRUE(created.ok()) << created.failure().detail;
    EXPECT_EQ(created.http_status(), 201u);
    EXPECT_EQ(created->status, "scheduled");
    EXPECT_EQ(created->recipient_count, 2u);
    ASSERT_TRUE(created->safety.has_value());
    EXPECT_EQ(created->safety->decision, "allow");

    const auto got = run(client_->get_campaign(shop_key(), created->id));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->name, "black-friday");

    const auto stats = run(client_->get_campaign_stats(shop_key(), created->id));
    ASSERT_TRUE(stats.ok()) << stats.failure().detail;
    EXPECT_EQ(stats->total, 2u);
    EXPECT_EQ(stats->pending, 2u);

    const auto paused = run(client_->pause_campaign(shop_key(), created->id));
    ASSERT_TRUE(paused.ok()) << paused.failure().detail;
    EXPECT_EQ(paused->status, "paused");
    const auto again = run(client_->pause_campaign(shop_key(), created->id));
    EXPECT_EQ(again.api_code(), "CONFLICT");
    const auto resumed = run(client_->resume_campaign(shop_key(), created->id));
    ASSERT_TRUE(resumed.ok());
    EXPECT_EQ(resumed->status, "scheduled");

    json::object invalid = body;
    invalid.erase("name");
    const auto refused = run(client_->create_campaign(shop_key(), invalid));
    EXPECT_EQ(refused.api_code(), "VALIDATION_ERROR");
    ASSERT_TRUE(refused.failure().error.has_value());
    EXPECT_TRUE(refused.failure().error->details.is_array());
}

TEST_F(ApiTest, Templates) {
    start_sim();
    start_client();
    const auto list = run(client_->list_templates(shop_key()));
    ASSERT_TRUE(list.ok()) << list.failure().detail;
    EXPECT_EQ(list->size(), 4u);
    const auto one = run(client_->get_template(shop_key(), std::string(welcome_template)));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->name, "welcome");
    EXPECT_EQ(one->variables, (std::vector<std::string>{"name", "instance.name"}));

    template_preview_request p;
    p.variables = json::object{{"name", "Ana"}};
    p.instance_id = std::string(shop_instance);
    const auto preview = run(client_->preview_template(shop_key(), std::string(welcome_template), p));
    ASSERT_TRUE(preview.ok()) << preview.failure().detail;
    EXPECT_EQ(preview->rendered, "Hi Ana, welcome to boutique-principale!");

    const auto no_instance = run(client_->preview_template(shop_key(), std::string(welcome_template)));
    EXPECT_EQ(no_instance.api_code(), "TEMPLATE_CONTEXT_UNAVAILABLE");  // {{instance.name}} needs instanceId
    EXPECT_EQ(no_instance.verdict().act, action::fail);
    const auto missing_variable =
        run(client_->preview_template(shop_key(), std::string(order_ready_template)));
    EXPECT_EQ(missing_variable.api_code(), "TEMPLATE_VARIABLES_MISSING");
}

TEST_F(ApiTest, UsageAndBilling) {
    start_sim();
    start_client();
    const auto usage = run(client_->get_usage(shop_key()));
    ASSERT_TRUE(usage.ok()) << usage.failure().detail;
    EXPECT_EQ(usage->plan, "pro");
    EXPECT_TRUE(usage->api_requests_used.has_value());
    EXPECT_TRUE(usage->period.end.has_value());

    const auto sub = run(client_->get_billing_subscription(shop_key()));
    ASSERT_TRUE(sub.ok()) << sub.failure().detail;
    EXPECT_EQ(sub->status, "active");
    EXPECT_EQ(sub->cancel_at_period_end, false);

    const auto billing = run(client_->get_billing_usage(shop_key()));
    ASSERT_TRUE(billing.ok()) << billing.failure().detail;
    EXPECT_EQ(billing->monthly_api_request_quota, 1'000'000u);
    EXPECT_EQ(billing->features.at("campaigns"), true);
}

TEST_F(ApiTest, TeamKeysAndKeyProblems) {
    start_sim();
    start_client();
    // A team key carries X-Team-Id and sees the team's instances.
    const auto team = run(client_->list_instances(agency_key()));
    ASSERT_TRUE(team.ok()) << team.failure().detail;
    ASSERT_EQ(team->size(), 2u);
    EXPECT_EQ(team->at(0).id, agency_instance);

    // ...but not the personal-only routes: a configuration hold, not a failure of the job.
    const auto usage = run(client_->get_usage(agency_key()));
    EXPECT_EQ(usage.http_status(), 403u);
    EXPECT_EQ(usage.api_code(), "TEAM_KEY_NOT_ALLOWED");
    EXPECT_EQ(usage.verdict().act, action::hold_key);
    EXPECT_EQ(usage.verdict().cause, hold_cause::configuration);

    const auto stranger = run(client_->list_instances(make_key(stranger_secret)));
    EXPECT_EQ(stranger.http_status(), 401u);
    EXPECT_EQ(stranger.api_code(), "UNAUTHORIZED");
    EXPECT_EQ(stranger.verdict().act, action::hold_key);
    EXPECT_EQ(stranger.verdict().cause, hold_cause::auth);
}

// ---- TLS
// ------------------------------------------------------------------------------------------------------

TEST_F(ApiTlsTest, VerifiedByIpAndReused) {
    start_client();  // https://127.0.0.1:port: the certificate's IP SAN
    for (int i = 0; i < 20; ++i) {
        const auto r = run(client_->list_instances(shop_key()));
        ASSERT_TRUE(r.ok()) << r.failure().detail;
    }
    const auto sent = run(client_->send_message(shop_key(), text_to("+33612345601")));
    ASSERT_TRUE(sent.ok()) << sent.failure().detail;
    const auto s = sim_stats(*sim_);
    EXPECT_EQ(others(s, "connections"), 1u);
    EXPECT_EQ(others(s, "tlsHandshakes"), 1u);
    EXPECT_EQ(client_stats().tls_handshakes, 1u);
}

TEST_F(ApiTlsTest, VerifiedByNameWithSniAndSessionsResumed) {
    start_client(options_for(*sim_, "localhost"));  // DNS SAN, SNI, name resolution
    std::vector<std::future<api_result<std::vector<instance>>>> calls;
    for (int i = 0; i < 16; ++i) {
        calls.push_back(spawn(client_->list_instances(shop_key())));
    }
    for (auto& f : calls) {
        const auto r = f.get();
        EXPECT_TRUE(r.ok()) << r.failure().detail;
    }
    // Now every connection is idle; close them and open fresh ones: they resume the saved session.
    on_io([this] { client_->cancel_all(); });
    const auto again = run(client_->list_instances(shop_key()));
    ASSERT_TRUE(again.ok()) << again.failure().detail;
    const auto cs = client_stats();
    const auto s = sim_stats(*sim_);
    EXPECT_EQ(stat(s, "tlsHandshakes"), stat(s, "connections"));
    EXPECT_EQ(cs.tls_handshakes, others(s, "connections"));
    EXPECT_EQ(cs.connections_opened, others(s, "connections"));
    EXPECT_GE(cs.tls_resumed, 1u);
}

TEST_F(ApiTlsTest, WrongCaFailsVerification) {
    auto o = options_for(*sim_);
    o.pool.ca_file = pki_.other_ca_cert;
    start_client(o);
    const auto r = run(client_->list_instances(shop_key()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.outcome(), transport_outcome::not_sent);
    EXPECT_EQ(r.failure().ec.category(), asio::error::get_ssl_category());
    EXPECT_NE(r.failure().detail.find("certificate"), std::string::npos) << r.failure().detail;
    EXPECT_EQ(r.verdict().act, action::retry);
    EXPECT_FALSE(r.verdict().counts_attempt);
    EXPECT_EQ(others(sim_stats(*sim_), "tlsHandshakes"), 0u);
}

TEST_F(ApiTlsTest, NameNotInCertificateFails) {
    // The certificate is for localhost and 127.0.0.1; "127.0.0.1" reached as [::ffff:127.0.0.1] is another
    // name.
    start_client(options_for(*sim_, "::ffff:127.0.0.1"));
    const auto r = run(client_->list_instances(shop_key()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.outcome(), transport_outcome::not_sent);
}

TEST_F(ApiTest, PlainHttpOffThisMachineIsRefused) {
    for (const char* host : {"srv.msgflash.com", "192.168.1.10", "::2"}) {
        client_options o;
        o.pool.origin = http_origin{false, host, 8080};
        try {
            api_client c(ioc_.get_executor(), o, log_);
            ADD_FAILURE() << "http://" << host << " was accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("loopback"), std::string::npos) << e.what();
        }
    }
    client_options o;
    o.pool.origin = http_origin{true, "srv.msgflash.com", 443};
    o.pool.ca_file = "/nonexistent/ca.pem";
    EXPECT_THROW(api_client(ioc_.get_executor(), o, log_), std::runtime_error);
}

TEST(ApiOptions, FromTheApiSection) {
    api_config c;
    c.base_url = http_origin{true, "srv.msgflash.com", 443};
    c.timeout = 7s;
    c.connect_timeout = 3s;
    c.max_connections = 12;
    c.ca_file = "/etc/ssl/extra.pem";
    const auto o = make_client_options(c);
    EXPECT_EQ(o.pool.origin, c.base_url);
    EXPECT_EQ(o.pool.request_timeout, 7s);
    EXPECT_EQ(o.pool.queue_timeout, 7s);
    EXPECT_EQ(o.pool.connect_timeout, 3s);
    EXPECT_EQ(o.pool.handshake_timeout, 3s);
    EXPECT_EQ(o.pool.max_connections, 12u);
    EXPECT_EQ(o.pool.ca_file, "/etc/ssl/extra.pem");
}

// ---- the request on the wire
// -------------------------------------------------------------------------------

// Accepts one connection, reads one request (headers and Content-Length body), answers `reply`, closes.
asio::awaitable<void> capture_one(tcp::acceptor& acceptor, std::string& request, std::string reply) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
        co_return;
    }
    asio::streambuf buf;
    auto [read_ec, n] =
        co_await asio::async_read_until(socket, buf, "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (read_ec) {
        co_return;
    }
    request.assign(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    const auto cl = request.find("Content-Length: ");
    if (cl != std::string::npos) {
        const std::size_t body = std::stoul(request.substr(cl + 16));
        const std::size_t have = request.size() - (request.find("\r\n\r\n") + 4);
        if (have < body) {
            std::string rest(body - have, '\0');
            auto [e2, m] =
                co_await asio::async_read(socket, asio::buffer(rest), asio::as_tuple(asio::use_awaitable));
            (void)e2;
            request += rest.substr(0, m);
        }
    }
    co_await asio::async_write(socket, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
}

TEST_F(ApiTest, RequestHeaders) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_options o;
    const auto port =
        acceptor.local_endpoint().port();  // read here: the acceptor belongs to the io thread next
    o.pool.origin = http_origin{false, "127.0.0.1", port};
    start_client(o);
    const std::string answer = R"({"data":{"id":"m-1","status":"queued"}})";
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(answer.size()) + "\r\n\r\n" + answer;

    std::string request;
    auto server = spawn(capture_one(acceptor, request, reply));
    auto sent = spawn(client_->send_message(agency_key(), text_to("+33612345678")));
    server.get();
    const auto r = sent.get();
    ASSERT_TRUE(r.ok()) << r.failure().detail;
    EXPECT_EQ(r->id, "m-1");

    EXPECT_EQ(request.rfind("POST /api/v1/messages/send HTTP/1.1\r\n", 0), 0u) << request;
    for (const std::string& header :
         {"Host: 127.0.0.1:" + std::to_string(port),
          std::string("User-Agent: msgflashd/") + msgflash::version, std::string("Accept: application/json"),
          std::string("x-api-key: ") + std::string(agency_secret),
          std::string("X-Team-Id: ") + std::string(agency_team),
          std::string("Content-Type: application/json")}) {
        EXPECT_NE(request.find("\r\n" + header + "\r\n"), std::string::npos) << header << " missing in\n"
                                                                             << request;
    }
    EXPECT_NE(request.find(R"("to":"+33612345678")"), std::string::npos) << request;

    // A personal key never sends X-Team-Id (the API would answer TEAM_KEY_REQUIRED); a GET has no
    // Content-Type.
    request.clear();
    const std::string list_reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"data\":[]}";
    server = spawn(capture_one(acceptor, request, list_reply));
    auto listed = spawn(client_->list_instances(shop_key()));
    server.get();
    EXPECT_TRUE(listed.get().ok());
    EXPECT_EQ(request.rfind("GET /api/v1/instances HTTP/1.1\r\n", 0), 0u) << request;
    EXPECT_EQ(request.find("X-Team-Id"), std::string::npos) << request;
    EXPECT_EQ(request.find("Content-Type"), std::string::npos) << request;
    on_io([&] { acceptor.close(); });
}

}  // namespace
}  // namespace msgflash::api::test
