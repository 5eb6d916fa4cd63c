// Every fault msgflash-sim can script, and what the client makes of it: the outcome (answered, not_sent,
// ambiguous, unparseable), the status, the code, Retry-After, and the verdict; and no key in any log line.
#include <string>
#include <vector>

#include <boost/asio/error.hpp>

#include "tests/integration/api/api_test_support.hpp"

namespace msgflash::api::test {
namespace {

void script(const msgflash::test::sim_instance& sim, std::initializer_list<std::string_view> faults) {
    json::array names;
    for (auto f : faults) {
        names.emplace_back(f);
    }
    control(sim, "/_sim/faults", json::object{{"script", std::move(names)}});
}

TEST_F(ApiTest, ProviderAndServerErrorsAreRetried) {
    struct row {
        std::string_view fault;
        unsigned status;
        bool provider;
    };
    start_sim();
    start_client();
    int n = 0;
    for (const auto& r : {row{"PROVIDER_TIMEOUT", 502, true}, row{"PROVIDER_UNAVAILABLE", 502, true},
                          row{"PROVIDER_ERROR", 502, true}, row{"INTERNAL_ERROR", 500, false},
                          row{"SERVICE_UNAVAILABLE", 503, false}}) {
        script(*sim_, {r.fault});
        const auto sent =
            run(client_->send_message(shop_key(), text_to("+3361234567" + std::to_string(n++))));
        ASSERT_FALSE(sent.ok()) << r.fault;
        EXPECT_EQ(sent.outcome(), transport_outcome::answered) << r.fault;
        EXPECT_EQ(sent.http_status(), r.status) << r.fault;
        EXPECT_EQ(sent.api_code(), r.fault);
        const auto v = sent.verdict();
        EXPECT_EQ(v.act, action::retry) << r.fault;
        EXPECT_TRUE(v.counts_attempt) << r.fault;
        EXPECT_FALSE(v.ambiguous) << r.fault;
        EXPECT_EQ(v.provider_failure, r.provider) << r.fault;
    }
    EXPECT_EQ(accepted_sends(*sim_), 0u);
    // The connection survived every error answer.
    EXPECT_EQ(client_stats().connections_opened, 1u);
}

TEST_F(ApiTest, CloseAfterAcceptanceIsAmbiguousAndNeverReplayed) {
    start_sim();
    start_client();
    script(*sim_, {"ambiguous"});
    const auto fresh = run(client_->send_message(shop_key(), text_to("+33612345001")));
    ASSERT_FALSE(fresh.ok());
    EXPECT_EQ(fresh.outcome(), transport_outcome::ambiguous);
    EXPECT_TRUE(fresh.verdict().ambiguous);
    EXPECT_EQ(fresh.verdict().act, action::retry);
    EXPECT_EQ(accepted_sends(*sim_), 1u);  // the server did act on it: "ambiguous" is the truth

    // On a kept-alive connection the same close looks like an idle close; a send is still not replayed.
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    script(*sim_, {"ambiguous"});
    const auto reused = run(client_->send_message(shop_key(), text_to("+33612345002")));
    ASSERT_FALSE(reused.ok());
    EXPECT_TRUE(reused.exchange().reused_connection);
    EXPECT_FALSE(reused.exchange().replayed);
    EXPECT_EQ(reused.outcome(), transport_outcome::ambiguous);
    const auto s = sim_stats(*sim_);
    EXPECT_EQ(stat(s, "shop", "acceptedSends"), 2u);
    EXPECT_EQ(stat(s, "shop", "duplicates"), 0u);
}

TEST_F(ApiTest, SlowAnswerPastTheTimeoutIsAmbiguous) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.request_timeout = 1s;
    start_client(o);
    script(*sim_, {"slow"});  // 16 bytes every 200 ms: about 3 s for the whole answer
    const auto sent = run(client_->send_message(shop_key(), text_to("+33612345003")));
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.outcome(), transport_outcome::ambiguous);
    EXPECT_EQ(sent.failure().ec, client_errc::request_timeout);
    EXPECT_EQ(sent.failure().ec, boost::system::errc::timed_out);
    EXPECT_GE(sent.exchange().latency, 900ms);
    EXPECT_LT(sent.exchange().latency, 2500ms);
    EXPECT_TRUE(sent.verdict().ambiguous);
    EXPECT_EQ(accepted_sends(*sim_), 1u);
}

TEST_F(ApiTest, UnreadableAnswersKeepTheirStatus) {
    start_sim();
    start_client();
    struct row {
        std::string_view fault;
        client_errc why;
    };
    int n = 0;
    for (const auto& r :
         {row{"garbage", client_errc::not_json}, row{"wrong_content_type", client_errc::wrong_content_type},
          row{"huge_body", client_errc::body_too_large}}) {
        script(*sim_, {r.fault});
        const auto sent =
            run(client_->send_message(shop_key(), text_to("+3361234510" + std::to_string(n++))));
        ASSERT_FALSE(sent.ok()) << r.fault;
        EXPECT_EQ(sent.outcome(), transport_outcome::unparseable) << r.fault;
        EXPECT_EQ(sent.http_status(), 200u) << r.fault;
        EXPECT_EQ(sent.failure().ec, r.why) << r.fault << ": " << sent.failure().detail;
        // A 2xx we cannot read may have been accepted: settle it, do not blindly send twice.
        EXPECT_TRUE(sent.verdict().ambiguous) << r.fault;
        EXPECT_EQ(sent.verdict().act, action::retry) << r.fault;
    }
    EXPECT_EQ(accepted_sends(*sim_), 3u);
    // The 32 MiB answer was not read to its end: that connection was closed, a new one follows.
    const auto before = client_stats().connections_opened;
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    EXPECT_EQ(client_stats().connections_opened, before + 1);

    // The unreadable answers are logged with their status and a sanitized start of the body.
    bool garbage_logged = false;
    for (const auto& line : sink_->lines()) {
        garbage_logged =
            garbage_logged || (line.rfind("warning", 0) == 0 && line.find("-> 200") != std::string::npos &&
                               line.find("<html><body><h1>502 Bad Gateway") != std::string::npos);
    }
    EXPECT_TRUE(garbage_logged);
}

TEST_F(ApiTest, ResetBeforeTheRequestIsRead) {
    start_sim();
    start_client();
    arm_one_reset();
    const auto fresh = run(client_->send_message(shop_key(), text_to("+33612345201")));
    ASSERT_FALSE(fresh.ok());
    // The request was written (into the kernel) before the reset came back: we cannot know the server did not
    // read it, so it is ambiguous, and a fresh connection is never replayed.
    EXPECT_EQ(fresh.outcome(), transport_outcome::ambiguous);
    EXPECT_EQ(fresh.failure().ec, asio::error::connection_reset) << fresh.failure().ec.message();
    EXPECT_FALSE(fresh.exchange().reused_connection);
    EXPECT_FALSE(fresh.exchange().replayed);
    EXPECT_EQ(accepted_sends(*sim_), 0u);

    expect_resets_on_kept_alive_connections("+33612345202");
    EXPECT_EQ(accepted_sends(*sim_), 1u);
}

// Over TLS a server's close without close_notify reads as stream_truncated, not EOF: the same outcomes.
TEST_F(ApiTlsTest, ConnectionFaultsOverTls) {
    start_client();
    script(*sim_, {"ambiguous"});
    const auto closed = run(client_->send_message(shop_key(), text_to("+33612345211")));
    ASSERT_FALSE(closed.ok());
    EXPECT_EQ(closed.outcome(), transport_outcome::ambiguous) << closed.failure().detail;
    EXPECT_FALSE(closed.exchange().replayed);

    expect_resets_on_kept_alive_connections("+33612345212");
    // The send closed after acceptance and one of the two others; the reset one was never handled.
    EXPECT_EQ(accepted_sends(*sim_), 2u);
    const auto cs = client_stats();
    EXPECT_EQ(cs.replays, 1u);
    EXPECT_EQ(cs.tls_handshakes, cs.connections_opened);
}

void expect_rate_limited(const std::vector<api_result<std::vector<instance>>>& results,
                         std::chrono::seconds low, std::chrono::seconds high) {
    int limited = 0;
    for (const auto& r : results) {
        if (r.ok()) {
            continue;
        }
        ++limited;
        EXPECT_EQ(r.http_status(), 429u);
        EXPECT_EQ(r.api_code(), "API_RATE_LIMIT_EXCEEDED");
        EXPECT_EQ(r.verdict().act, action::rate_limited);
        EXPECT_FALSE(r.verdict().counts_attempt);
        ASSERT_TRUE(r.failure().error.has_value());
        const auto after = r.failure().error->retry_after;
        ASSERT_TRUE(after.has_value());
        EXPECT_GE(*after, low);
        EXPECT_LE(*after, high);
        EXPECT_EQ(r.failure().retry_after, after);
    }
    EXPECT_GE(limited, 5);  // 15 at once against 10 per second
}

std::vector<api_result<std::vector<instance>>> burst(ApiTest& t, api_client& c, int n) {
    std::vector<std::future<api_result<std::vector<instance>>>> calls;
    for (int i = 0; i < n; ++i) {
        calls.push_back(asio::co_spawn(t.io(), c.list_instances(shop_key()), asio::use_future));
    }
    std::vector<api_result<std::vector<instance>>> out;
    for (auto& f : calls) {
        out.push_back(f.get());
    }
    return out;
}

class ApiRateLimitTest : public ApiTest {
  protected:
    void SetUp() override {
        ApiTest::SetUp();
        start_sim(sim::default_sim_config());  // the 10 req/s limiter on
        auto o = options_for(*sim_);
        o.pool.max_connections = 16;
        start_client(o);
    }
};

TEST_F(ApiRateLimitTest, RetryAfterInSeconds) {
    control(*sim_, "/_sim/limits", json::object{{"retry_after", "seconds"}});
    expect_rate_limited(burst(*this, *client_, 15), 1s, 1s);
}

TEST_F(ApiRateLimitTest, RetryAfterAsHttpDate) {
    control(*sim_, "/_sim/limits", json::object{{"retry_after", "date"}});
    // A whole-second date from the server's clock, read against ours: 0 to 2 s.
    expect_rate_limited(burst(*this, *client_, 15), 0s, 2s);
}

TEST_F(ApiRateLimitTest, NoRetryAfter) {
    control(*sim_, "/_sim/limits", json::object{{"retry_after", "none"}});
    int limited = 0;
    for (const auto& r : burst(*this, *client_, 15)) {
        if (!r.ok()) {
            ++limited;
            EXPECT_EQ(r.verdict().act, action::rate_limited);
            EXPECT_FALSE(r.failure().retry_after.has_value());
        }
    }
    EXPECT_GE(limited, 5);
}

TEST_F(ApiTest, NoKeyInAnyLogLine) {
    start_sim();
    auto o = options_for(*sim_);
    o.pool.request_timeout = 1s;
    start_client(o);
    // Success, error envelopes, unknown key, every unreadable kind, ambiguous closes and a timeout.
    ASSERT_TRUE(run(client_->list_instances(shop_key())).ok());
    ASSERT_TRUE(run(client_->list_instances(agency_key())).ok());
    EXPECT_FALSE(run(client_->get_usage(agency_key())).ok());
    EXPECT_FALSE(run(client_->list_instances(make_key(stranger_secret))).ok());
    EXPECT_FALSE(run(client_->get_message(shop_key(), "missing")).ok());
    script(*sim_, {"garbage", "wrong_content_type", "huge_body", "ambiguous", "slow", "PROVIDER_ERROR"});
    for (int i = 0; i < 6; ++i) {
        EXPECT_FALSE(run(client_->send_message(shop_key(), text_to("+3361234530" + std::to_string(i)))).ok());
    }

    const auto lines = sink_->lines();
    EXPECT_GT(lines.size(), 15u);
    int debug = 0;
    int warnings = 0;
    for (const auto& line : lines) {
        debug += line.rfind("debug", 0) == 0 ? 1 : 0;
        warnings += line.rfind("warning", 0) == 0 ? 1 : 0;
    }
    EXPECT_GT(debug, 0);
    EXPECT_GE(warnings, 5);
    expect_no_key_in_logs();
}

}  // namespace
}  // namespace msgflash::api::test
