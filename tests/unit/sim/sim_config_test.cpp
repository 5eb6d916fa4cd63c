// msgflash-sim's TOML world: every table read, every mistake refused with its source, key path and line,
// and the built-in world fit for the README demo.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <tuple>
#include <unistd.h>
#include <vector>

#include "tests/unit/sim/sim_test_support.hpp"

namespace msgflash::sim::testing {
namespace {

constexpr std::string_view full_world = R"toml(
[server]
host = "0.0.0.0"
port = 8443
threads = 4
tls_cert = "/tmp/c.pem"
tls_key = "/tmp/k.pem"

[limits]
enabled = false
window = "1500ms"
retry_after = "date"
count_rejected = false

[faults]
seed = 1234
provider_timeout = 0.1
provider_unavailable = 0.05
provider_error = 0.05
internal_error = 0.02
service_unavailable = 0.02
ambiguous = 0.01
slow = 0.01
garbage = 0.01
wrong_content_type = 0.01
huge_body = 0.01
reset = 0.5
on_reads = true
latency_min = "5ms"
latency_max = "1s"
jitter_min = "1ms"
jitter_max = "3ms"
slow_chunk_interval = "50ms"
slow_chunk_bytes = 8
huge_body_bytes = 4096

[delivery]
step = "250ms"
failed_share = 0.25

[[accounts]]
name = "a"
key = "msgf_live_FAKE_a"
monthly_quota = 50
quota_used = 7
rate = 5
plan = "starter"
business = false
campaigns = false
subscription_active = false
revoked = true

[[accounts]]
name = "t"
key = "msgf_team_FAKE_t"
team_id = "11111111-2222-4333-8444-555555555555"

[[instances]]
id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
account = "t"
name = "main"
wa_number = "+4915100000000"
status = "connecting"
[instances.health]
safetyState = "critical"
safetyScore = 10
extra = { when = 2026-04-01T09:00:00Z, list = [1, 2] }
[instances.health.warmupPolicy]
maxPerMinute = 3
minIntervalSeconds = 1.5

[[templates]]
id = "ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee"
account = "a"
name = "hello"
body = "Hi {{name}}"
valid = false
)toml";

TEST(SimConfig, ReadsEveryTableAndKey) {
    const auto c = parse_sim_config(full_world, "full.toml");
    EXPECT_EQ(c.server.host, "0.0.0.0");
    EXPECT_EQ(c.server.port, 8443);
    EXPECT_EQ(c.server.threads, 4u);
    EXPECT_EQ(c.server.tls_cert, "/tmp/c.pem");
    EXPECT_EQ(c.server.tls_key, "/tmp/k.pem");
    EXPECT_FALSE(c.limits.enabled);
    EXPECT_EQ(c.limits.window, std::chrono::milliseconds(1500));
    EXPECT_EQ(c.limits.retry_after, "date");
    EXPECT_FALSE(c.limits.count_rejected);
    EXPECT_EQ(c.faults.seed, 1234u);
    EXPECT_DOUBLE_EQ(c.faults.provider_timeout, 0.1);
    EXPECT_DOUBLE_EQ(c.faults.huge_body, 0.01);
    EXPECT_DOUBLE_EQ(c.faults.reset, 0.5);
    EXPECT_TRUE(c.faults.on_reads);
    EXPECT_EQ(c.faults.latency_min, std::chrono::milliseconds(5));
    EXPECT_EQ(c.faults.latency_max, std::chrono::milliseconds(1000));
    EXPECT_EQ(c.faults.jitter_max, std::chrono::milliseconds(3));
    EXPECT_EQ(c.faults.slow_chunk_interval, std::chrono::milliseconds(50));
    EXPECT_EQ(c.faults.slow_chunk_bytes, 8u);
    EXPECT_EQ(c.faults.huge_body_bytes, 4096u);
    EXPECT_EQ(c.delivery.step, std::chrono::milliseconds(250));
    EXPECT_DOUBLE_EQ(c.delivery.failed_share, 0.25);
    ASSERT_EQ(c.accounts.size(), 2u);
    const auto& a = c.accounts[0];
    EXPECT_EQ(a.monthly_quota, 50u);
    EXPECT_EQ(a.quota_used, 7u);
    EXPECT_EQ(a.rate, 5u);
    EXPECT_EQ(a.plan, "starter");
    EXPECT_FALSE(a.business);
    EXPECT_FALSE(a.campaigns);
    EXPECT_FALSE(a.subscription_active);
    EXPECT_TRUE(a.revoked);
    EXPECT_EQ(c.accounts[1].team_id, "11111111-2222-4333-8444-555555555555");
    ASSERT_EQ(c.instances.size(), 1u);
    EXPECT_EQ(c.instances[0].status, "connecting");
    EXPECT_EQ(c.instances[0].health, json::parse(R"({"safetyState":"critical","safetyScore":10,
        "extra":{"when":"2026-04-01T09:00:00Z","list":[1,2]},
        "warmupPolicy":{"maxPerMinute":3,"minIntervalSeconds":1.5}})"));
    ASSERT_EQ(c.templates.size(), 1u);
    EXPECT_FALSE(c.templates[0].valid);
    EXPECT_EQ(c.templates[0].body, "Hi {{name}}");
}

TEST(SimConfig, AnEmptyFileIsTheStructDefaults) {
    const auto c = parse_sim_config("", "empty.toml");
    EXPECT_TRUE(c.limits.enabled);
    EXPECT_EQ(c.limits.window, std::chrono::milliseconds(1000));
    EXPECT_EQ(c.limits.retry_after, "seconds");
    EXPECT_EQ(c.delivery.step, std::chrono::milliseconds(1000));
    EXPECT_TRUE(c.accounts.empty());
}

struct bad_config {
    const char* name;
    std::string toml;
    std::string expected;  // "<source>:<line>: <key path>" and a word of the reason
};

class SimConfigErrors : public ::testing::TestWithParam<bad_config> {};

TEST_P(SimConfigErrors, NameTheSourceKeyAndLine) {
    const auto& c = GetParam();
    try {
        parse_sim_config(c.toml, "bad.toml");
        FAIL() << "accepted: " << c.toml;
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
            << "message: " << e.what() << "\nexpected: " << c.expected;
    }
}

constexpr char account_a[] = "[[accounts]]\nname = \"a\"\nkey = \"msgf_live_FAKE_a\"\n";  // lines 1-3

INSTANTIATE_TEST_SUITE_P(
    Cases, SimConfigErrors,
    ::testing::Values(
        bad_config{"UnknownTopLevel", "[limits]\nenabled = true\n[extras]\nx = 1\n",
                   "bad.toml:3: extras: unknown key"},
        bad_config{"UnknownKey", "[limits]\nenabled = true\nwindw = \"1s\"\n",
                   "bad.toml:3: limits.windw: unknown key"},
        bad_config{"WrongType", "[limits]\n\nenabled = \"yes\"\n",
                   "bad.toml:3: limits.enabled: expected a boolean"},
        bad_config{"BadDuration", "[delivery]\nstep = \"2 seconds\"\n",
                   "bad.toml:2: delivery.step: bad duration"},
        bad_config{"DurationAsNumber", "[faults]\nlatency_max = 250\n",
                   "bad.toml:2: faults.latency_max: expected"},
        bad_config{"ZeroWindow", "[limits]\nwindow = \"0s\"\n", "bad.toml:2: limits.window: must be longer"},
        bad_config{"ProbabilityAboveOne", "[faults]\nseed = 3\ngarbage = 1.5\n",
                   "bad.toml:3: faults.garbage: "},
        bad_config{"ProbabilityNegative", "[delivery]\nfailed_share = -0.1\n",
                   "bad.toml:2: delivery.failed_share"},
        bad_config{"ProbabilitiesOverOne", "[faults]\nprovider_error = 0.6\nslow = 0.5\n",
                   "bad.toml:1: faults: the fault probabilities sum"},
        bad_config{"LatencyMinOverMax", "[faults]\nlatency_min = \"2s\"\nlatency_max = \"1s\"\n",
                   "bad.toml:1: faults.latency_min"},
        bad_config{"RetryAfterValue", "[limits]\nretry_after = \"soon\"\n",
                   "bad.toml:2: limits.retry_after: must be"},
        bad_config{"Syntax", "[limits]\nenabled = true\nwindow = \"1s\n", "bad.toml:3: TOML syntax error"},
        bad_config{"AccountsNotTables", "accounts = 3\n",
                   "bad.toml:1: accounts: expected an array of tables"},
        bad_config{"AccountWithoutKey", "[[accounts]]\nname = \"a\"\n",
                   "bad.toml:1: accounts[0].key: required"},
        bad_config{"KeyPrefix", std::string(account_a) + "[[accounts]]\nname = \"b\"\nkey = \"sk_live_b\"\n",
                   "bad.toml:6: accounts[1].key: must start with msgf_live_"},
        bad_config{"TeamKeyWithoutTeamId",
                   std::string(account_a) + "[[accounts]]\nname = \"b\"\nkey = \"msgf_team_FAKE_b\"\n",
                   "bad.toml:4: accounts[1].team_id: required for a team key"},
        bad_config{"PersonalKeyWithTeamId",
                   std::string(account_a) + "[[accounts]]\nname = \"b\"\nkey = \"msgf_live_FAKE_b\"\n"
                                            "team_id = \"11111111-2222-4333-8444-555555555555\"\n",
                   "bad.toml:7: accounts[1].team_id: not allowed with a personal key"},
        bad_config{"TeamIdNotUuid",
                   "[[accounts]]\nname = \"b\"\nkey = \"msgf_team_FAKE_b\"\nteam_id = \"team-1\"\n",
                   "bad.toml:4: accounts[0].team_id: must be a UUID"},
        bad_config{"DuplicateAccountName",
                   std::string(account_a) + "[[accounts]]\nname = \"a\"\nkey = \"msgf_live_FAKE_b\"\n",
                   "bad.toml:5: accounts[1].name: duplicate account name"},
        bad_config{"DuplicateKey",
                   std::string(account_a) + "[[accounts]]\nname = \"b\"\nkey = \"msgf_live_FAKE_a\"\n",
                   "bad.toml:6: accounts[1].key: the same key"},
        bad_config{"BadPlan", std::string(account_a) + "plan = \"gold\"\n",
                   "bad.toml:4: accounts[0].plan: must be one of"},
        bad_config{"ZeroRate", std::string(account_a) + "rate = 0\n",
                   "bad.toml:4: accounts[0].rate: must be between"},
        bad_config{"InstanceOfUnknownAccount",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"zz\"\n"
                       "name = \"n\"\nwa_number = \"+4915100000000\"\n",
                   "bad.toml:6: instances[0].account: unknown account \"zz\""},
        bad_config{"DuplicateInstanceId",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"n\"\nwa_number = \"+4915100000000\"\n"
                       "[[instances]]\nid = \"AAAAAAAA-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"m\"\nwa_number = \"+4915100000001\"\n",
                   "bad.toml:10: instances[1].id: duplicate instance id"},
        bad_config{"InstanceStatus",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"n\"\nwa_number = \"+4915100000000\"\nstatus = \"online\"\n",
                   "bad.toml:9: instances[0].status: must be one of"},
        bad_config{"InstanceWaNumber",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"n\"\nwa_number = \"0151\"\n",
                   "bad.toml:8: instances[0].wa_number: must be an E.164"},
        bad_config{"InstanceWithoutName",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "wa_number = \"+4915100000000\"\n",
                   "bad.toml:4: instances[0].name: required"},
        bad_config{"HealthSafetyState",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"n\"\nwa_number = \"+4915100000000\"\n[instances.health]\n"
                       "safetyState = \"fine\"\n",
                   "bad.toml:10: instances[0].health.safetyState: must be one of"},
        bad_config{"HealthScore",
                   std::string(account_a) +
                       "[[instances]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"a\"\n"
                       "name = \"n\"\nwa_number = \"+4915100000000\"\nhealth = { safetyScore = 101 }\n",
                   "bad.toml:9: instances[0].health.safetyScore: must be between 0 and 100"},
        bad_config{"TemplateOfUnknownAccount",
                   std::string(account_a) +
                       "[[templates]]\nid = \"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\"\naccount = \"q\"\n"
                       "name = \"n\"\nbody = \"x\"\n",
                   "bad.toml:6: templates[0].account: unknown account"},
        bad_config{"TemplateIdNotUuid",
                   std::string(account_a) +
                       "[[templates]]\nid = \"t1\"\naccount = \"a\"\nname = \"n\"\nbody = \"x\"\n",
                   "bad.toml:5: templates[0].id: must be a UUID"},
        bad_config{"ServerTlsHalf", "[server]\ntls_cert = \"c.pem\"\n",
                   "bad.toml:1: server: tls_cert and tls_key"},
        bad_config{"ServerPort", "[server]\nport = 70000\n", "bad.toml:2: server.port: must be between"}),
    [](const ::testing::TestParamInfo<bad_config>& param_info) {
        return std::string(param_info.param.name);
    });

TEST(SimConfig, LoadNamesTheFileItCannotOpen) {
    try {
        load_sim_config("/nonexistent/msgflash-sim.toml");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/msgflash-sim.toml"), std::string::npos)
            << e.what();
    }
}

TEST(SimConfig, LoadReadsAFileAndNamesItInErrors) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("sim_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "world.toml";
    {
        std::ofstream out(path);
        out << "[limits]\nenabled = false\n";
    }
    EXPECT_FALSE(load_sim_config(path).limits.enabled);
    {
        std::ofstream out(path);
        out << "[limits]\nenabled = 1\n";
    }
    try {
        load_sim_config(path);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(path.string() + ":2: limits.enabled"), std::string::npos)
            << e.what();
    }
    std::filesystem::remove_all(dir);
}

TEST(SimConfig, BuiltInWorldMatchesTheReadmeDemo) {
    const auto c = default_sim_config();
    ASSERT_EQ(c.accounts.size(), 3u);
    EXPECT_EQ(c.accounts[0].name, "shop");
    EXPECT_EQ(c.accounts[0].key, shop_key);
    EXPECT_EQ(c.accounts[1].name, "agency");
    EXPECT_EQ(c.accounts[1].key, agency_key);
    EXPECT_EQ(c.accounts[1].team_id, agency_team);
    EXPECT_EQ(c.accounts[2].name, "tiny");
    EXPECT_FALSE(c.accounts[2].campaigns);
    EXPECT_FALSE(c.accounts[2].business);
    EXPECT_LT(c.accounts[2].monthly_quota, c.accounts[0].monthly_quota);

    std::map<std::string, std::vector<std::string>> statuses;
    for (const auto& i : c.instances) {
        statuses[i.account].push_back(i.status);
    }
    EXPECT_EQ(statuses["shop"], (std::vector<std::string>{"connected", "connected"}));
    EXPECT_EQ(statuses["agency"], (std::vector<std::string>{"connected", "disconnected"}));
    EXPECT_EQ(statuses["tiny"].size(), 1u);

    bool warmup = false;
    for (const auto& i : c.instances) {
        if (const auto* p = i.health.if_contains("warmupPolicy");
            p != nullptr && *p == json::parse(R"({"maxPerMinute":20,"maxPerHour":200,"maxPerDay":1000,
                                                  "minIntervalSeconds":2})")) {
            warmup = true;
        }
    }
    EXPECT_TRUE(warmup);

    bool name_var = false;
    bool invalid = false;
    bool contact = false;
    for (const auto& t : c.templates) {
        name_var = name_var || (t.valid && t.body.find("{{name}}") != std::string::npos);
        invalid = invalid || !t.valid;
        contact = contact || t.body.find("{{contact.firstName}}") != std::string::npos;
    }
    EXPECT_TRUE(name_var);
    EXPECT_TRUE(invalid);
    EXPECT_TRUE(contact);

    // Fixture keys must look fake: never 20 or more alphanumerics in a row after the prefix.
    const std::regex real_looking("msgf_(live|team)_[A-Za-z0-9]{20,}");
    for (const auto& a : c.accounts) {
        EXPECT_FALSE(std::regex_search(a.key, real_looking)) << a.key;
    }
    // And the world it describes starts.
    EXPECT_NO_THROW(world{c});
}

TEST(SimConfig, TheDocsPrintTheBuiltInWorld) {
    const char* source_dir = std::getenv("MSGFLASH_SOURCE_DIR");
    if (source_dir == nullptr) {
        GTEST_SKIP() << "MSGFLASH_SOURCE_DIR not set (run through ctest)";
    }
    std::ifstream in(std::filesystem::path(source_dir) / "docs" / "simulator.md");
    ASSERT_TRUE(in) << "docs/simulator.md";
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto section = text.find("## The built-in world");
    ASSERT_NE(section, std::string::npos);
    const auto begin = text.find("```toml\n", section);
    ASSERT_NE(begin, std::string::npos);
    const auto end = text.find("```", begin + 8);
    ASSERT_NE(end, std::string::npos);
    const auto documented = parse_sim_config(text.substr(begin + 8, end - begin - 8), "docs/simulator.md");
    const auto built_in = default_sim_config();

    ASSERT_EQ(documented.accounts.size(), built_in.accounts.size());
    for (std::size_t i = 0; i < built_in.accounts.size(); ++i) {
        const auto& d = documented.accounts[i];
        const auto& b = built_in.accounts[i];
        EXPECT_EQ(std::tie(d.name, d.key, d.team_id, d.monthly_quota, d.quota_used, d.rate, d.plan,
                           d.business, d.campaigns, d.subscription_active, d.revoked),
                  std::tie(b.name, b.key, b.team_id, b.monthly_quota, b.quota_used, b.rate, b.plan,
                           b.business, b.campaigns, b.subscription_active, b.revoked))
            << b.name;
    }
    ASSERT_EQ(documented.instances.size(), built_in.instances.size());
    for (std::size_t i = 0; i < built_in.instances.size(); ++i) {
        const auto& d = documented.instances[i];
        const auto& b = built_in.instances[i];
        EXPECT_EQ(std::tie(d.id, d.account, d.name, d.wa_number, d.status),
                  std::tie(b.id, b.account, b.name, b.wa_number, b.status));
        EXPECT_EQ(d.health, b.health) << b.id;
    }
    ASSERT_EQ(documented.templates.size(), built_in.templates.size());
    for (std::size_t i = 0; i < built_in.templates.size(); ++i) {
        const auto& d = documented.templates[i];
        const auto& b = built_in.templates[i];
        EXPECT_EQ(std::tie(d.id, d.account, d.name, d.body, d.valid),
                  std::tie(b.id, b.account, b.name, b.body, b.valid));
    }
    EXPECT_EQ(documented.limits.window, built_in.limits.window);
    EXPECT_EQ(documented.limits.retry_after, built_in.limits.retry_after);
    EXPECT_EQ(documented.delivery.step, built_in.delivery.step);
    EXPECT_EQ(documented.delivery.failed_share, built_in.delivery.failed_share);
}

TEST(SimConfig, WorldRejectsAnInstanceOfAnUnknownAccount) {
    sim_config c;
    c.instances.push_back(instance_config{.id = std::string(shop_main),
                                          .account = "ghost",
                                          .name = "n",
                                          .wa_number = "+33600000000",
                                          .status = "connected",
                                          .health = {}});
    EXPECT_THROW(world{c}, std::invalid_argument);
}

}  // namespace
}  // namespace msgflash::sim::testing
