// parse_config / load_config: defaults, every refusal with its key path and line, URLs, listen addresses.
#include "config/config.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include <gtest/gtest.h>

namespace msgflash {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr std::string_view one_account = R"(
[[accounts]]
name = "shop"
key_env = "MSGFLASH_SHOP_KEY"
)";

config_result parse(std::string_view text) {
    return parse_config(text, "msgflashd.toml");
}

// text plus the one account every valid config needs, appended at the end so line numbers of text hold.
config_result parse_with_account(const std::string& text) {
    return parse(text + std::string(one_account));
}

std::string all_errors(const config_result& r) {
    std::string out;
    for (const auto& e : r.errors) {
        out += e.to_string() + "\n";
    }
    return out;
}

// The single error of r; fails the test unless there is exactly one.
config_error only_error(const config_result& r) {
    EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
    EXPECT_FALSE(r.ok());
    return r.errors.empty() ? config_error{} : r.errors.front();
}

void expect_one_error(const std::string& text, std::string_view key, std::uint32_t line,
                      std::string_view message_part) {
    SCOPED_TRACE(text);
    const auto e = only_error(parse_with_account(text));
    EXPECT_EQ(e.key, key);
    EXPECT_EQ(e.line, line);
    EXPECT_NE(e.message.find(message_part), std::string::npos) << e.message;
    EXPECT_EQ(e.source, "msgflashd.toml");
}

config parse_ok(const std::string& text) {
    auto r = parse_with_account(text);
    EXPECT_TRUE(r.ok()) << all_errors(r);
    if (!r.value) {
        return config{};
    }
    return std::move(*r.value);
}

// ---- defaults ------------------------------------------------------------------------------------------

TEST(ConfigDefaults, OneAccountGetsEveryDefault) {
    const auto r = parse(one_account);
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_TRUE(r.warnings.empty());
    const config& c = *r.value;
    EXPECT_EQ(c.shutdown_grace, 10s);

    EXPECT_TRUE(c.api.base_url.tls);
    EXPECT_EQ(c.api.base_url.host, "srv.msgflash.com");
    EXPECT_EQ(c.api.base_url.port, 443);
    EXPECT_EQ(c.api.base_url.to_string(), "https://srv.msgflash.com");
    EXPECT_EQ(c.api.timeout, 15s);
    EXPECT_EQ(c.api.connect_timeout, 5s);
    EXPECT_EQ(c.api.max_connections, 256u);
    EXPECT_TRUE(c.api.ca_file.empty());

    EXPECT_EQ(c.spool.dir, "/var/spool/msgflashd");
    EXPECT_EQ(c.spool.max_file_bytes, 268435456u);
    EXPECT_EQ(c.spool.on_invalid_recipient, invalid_recipient_policy::skip);
    EXPECT_EQ(c.spool.max_line_bytes, 1024u * 1024u);
    EXPECT_EQ(c.spool.rescan_interval, 30s);

    EXPECT_EQ(c.queue.path, "/var/lib/msgflashd/queue.db");

    EXPECT_EQ(c.retry.base, 2s);
    EXPECT_EQ(c.retry.factor, 2.0);
    EXPECT_EQ(c.retry.cap, 5min);
    EXPECT_EQ(c.retry.max_attempts, 10u);
    EXPECT_EQ(c.retry.max_age, 24h);
    EXPECT_EQ(c.retry.on_ambiguous, ambiguous_policy::retry);

    EXPECT_EQ(c.pacing.per_recipient_gap, 6s);
    EXPECT_EQ(c.pacing.housekeeping_share, 0.2);
    EXPECT_EQ(c.pacing.instance_poll_interval, 60s);
    EXPECT_EQ(c.pacing.health_poll_interval, 5min);
    EXPECT_EQ(c.pacing.jitter_bound, 20ms);

    EXPECT_EQ(c.reconcile.max_age, 72h);

    EXPECT_EQ(c.admin.listen.type, listen_address::kind::tcp);
    EXPECT_EQ(c.admin.listen.host, "127.0.0.1");
    EXPECT_EQ(c.admin.listen.port, 9464);
    EXPECT_EQ(c.admin.listen.to_string(), "127.0.0.1:9464");

    EXPECT_EQ(c.log.level, log_level::info);

    ASSERT_EQ(c.accounts.size(), 1u);
    EXPECT_EQ(c.accounts[0].name, "shop");
    EXPECT_EQ(c.accounts[0].key_env, "MSGFLASH_SHOP_KEY");
    EXPECT_TRUE(c.accounts[0].key_file.empty());
    EXPECT_TRUE(c.accounts[0].team_id.empty());
    EXPECT_EQ(c.accounts[0].rate, 10u);
    EXPECT_TRUE(c.instances.empty());
}

TEST(ConfigDefaults, StructDefaultsMatchParsedDefaults) {
    const auto r = parse(one_account);
    ASSERT_TRUE(r.ok());
    config expected;
    expected.accounts = r.value->accounts;
    EXPECT_TRUE(*r.value == expected);
}

TEST(ConfigDefaults, EveryKeySetIsRead) {
    const config c = parse_ok(R"(
shutdown_grace = "0s"
[api]
base_url = "https://api.example.com:8443/"
timeout = "30s"
connect_timeout = "2s"
max_connections = 8
ca_file = "/etc/ssl/test-ca.pem"
[spool]
dir = "/srv/spool"
max_file_bytes = 1000
on_invalid_recipient = "reject_file"
max_line_bytes = 500
rescan_interval = "1m"
[queue]
path = "/srv/q.db"
[retry]
base = "250ms"
factor = 1.5
cap = "1h30m"
max_attempts = 3
max_age = "7d"
on_ambiguous = "hold"
[pacing]
per_recipient_gap = "0s"
housekeeping_share = 0.5
instance_poll_interval = "10s"
health_poll_interval = "1m"
jitter_bound = "0s"
[reconcile]
max_age = "1d"
[admin]
listen = "unix:/run/msgflashd/admin.sock"
[log]
level = "debug"
)");
    EXPECT_EQ(c.shutdown_grace, 0s);
    EXPECT_EQ(c.api.base_url.host, "api.example.com");
    EXPECT_EQ(c.api.base_url.port, 8443);
    EXPECT_EQ(c.api.base_url.to_string(), "https://api.example.com:8443");
    EXPECT_EQ(c.api.timeout, 30s);
    EXPECT_EQ(c.api.connect_timeout, 2s);
    EXPECT_EQ(c.api.max_connections, 8u);
    EXPECT_EQ(c.api.ca_file, "/etc/ssl/test-ca.pem");
    EXPECT_EQ(c.spool.dir, "/srv/spool");
    EXPECT_EQ(c.spool.max_file_bytes, 1000u);
    EXPECT_EQ(c.spool.on_invalid_recipient, invalid_recipient_policy::reject_file);
    EXPECT_EQ(c.spool.max_line_bytes, 500u);
    EXPECT_EQ(c.spool.rescan_interval, 1min);
    EXPECT_EQ(c.queue.path, "/srv/q.db");
    EXPECT_EQ(c.retry.base, 250ms);
    EXPECT_EQ(c.retry.factor, 1.5);
    EXPECT_EQ(c.retry.cap, 90min);
    EXPECT_EQ(c.retry.max_attempts, 3u);
    EXPECT_EQ(c.retry.max_age, 7 * 24h);
    EXPECT_EQ(c.retry.on_ambiguous, ambiguous_policy::hold);
    EXPECT_EQ(c.pacing.per_recipient_gap, 0s);
    EXPECT_EQ(c.pacing.housekeeping_share, 0.5);
    EXPECT_EQ(c.pacing.instance_poll_interval, 10s);
    EXPECT_EQ(c.pacing.health_poll_interval, 1min);
    EXPECT_EQ(c.pacing.jitter_bound, 0ms);
    EXPECT_EQ(c.reconcile.max_age, 24h);
    EXPECT_EQ(c.admin.listen.type, listen_address::kind::unix_socket);
    EXPECT_EQ(c.admin.listen.path, "/run/msgflashd/admin.sock");
    EXPECT_EQ(c.admin.listen.to_string(), "unix:/run/msgflashd/admin.sock");
    EXPECT_EQ(c.log.level, log_level::debug);
}

TEST(ConfigDefaults, IntegerFactorIsAccepted) {
    EXPECT_EQ(parse_ok("[retry]\nfactor = 3\n").retry.factor, 3.0);
}

TEST(ConfigDefaults, EnumNamesRoundTrip) {
    EXPECT_EQ(to_string(invalid_recipient_policy::reject_file), "reject_file");
    EXPECT_EQ(to_string(ambiguous_policy::hold), "hold");
    EXPECT_EQ(to_string(log_level::warn), "warn");
}

// ---- durations -----------------------------------------------------------------------------------------

TEST(ConfigDurations, HumanSpellingsAreRead) {
    EXPECT_EQ(parse_ok("[retry]\nbase = \"250ms\"\n").retry.base, 250ms);
    EXPECT_EQ(parse_ok("[retry]\nbase = \"1h30m\"\ncap = \"2h\"\n").retry.base, 90min);
    EXPECT_EQ(parse_ok("[reconcile]\nmax_age = \"7d\"\n").reconcile.max_age, 7 * 24h);
    const config r = parse_ok("[reports]\ninterval = \"2s\"\nmin_rewrite_interval = \"0s\"\n");
    EXPECT_EQ(r.reports.interval, 2s);
    EXPECT_EQ(r.reports.min_rewrite_interval, 0s);
    expect_one_error("[reports]\ninterval = \"0s\"\n", "reports.interval", 2, "longer than 0s");
}

TEST(ConfigDurations, InvalidDurationNamesKeyAndLine) {
    const auto e = only_error(parse_with_account("\n\n[retry]\nbase = \"2x\"\n"));
    EXPECT_EQ(
        e.to_string(),
        R"(msgflashd.toml:4: retry.base: invalid duration "2x" (expected e.g. "250ms", "2s", "5m", "24h"))");
    EXPECT_EQ(e.column, 8u);
}

TEST(ConfigDurations, NumberInsteadOfStringIsRefused) {
    expect_one_error("[api]\ntimeout = 15\n", "api.timeout", 2,
                     R"(expected a duration string such as "15s", got integer 15)");
}

TEST(ConfigDurations, AJitterBoundOfHalfASecondOrMoreIsRefused) {
    expect_one_error("[pacing]\njitter_bound = \"500ms\"\n", "pacing.jitter_bound", 2, "shorter than 500ms");
    expect_one_error("[pacing]\njitter_bound = \"2s\"\n", "pacing.jitter_bound", 2, "shorter than 500ms");
}

TEST(ConfigDurations, ZeroTimeoutsAreRefused) {
    expect_one_error("[api]\ntimeout = \"0s\"\n", "api.timeout", 2, "longer than 0s");
    expect_one_error("[api]\nconnect_timeout = \"0ms\"\n", "api.connect_timeout", 2, "longer than 0s");
    expect_one_error("[spool]\nrescan_interval = \"0s\"\n", "spool.rescan_interval", 2, "longer than 0s");
    expect_one_error("[pacing]\nhealth_poll_interval = \"0s\"\n", "pacing.health_poll_interval", 2,
                     "longer than 0s");
    expect_one_error("[pacing]\ninstance_poll_interval = \"0s\"\n", "pacing.instance_poll_interval", 2,
                     "longer than 0s");
    expect_one_error("[reconcile]\nmax_age = \"0s\"\n", "reconcile.max_age", 2, "longer than 0s");
    expect_one_error("[retry]\nmax_age = \"0s\"\n", "retry.max_age", 2, "longer than 0s");
}

TEST(ConfigDurations, NegativeOrEmptyDurationsAreRefused) {
    expect_one_error("shutdown_grace = \"-1s\"\n", "shutdown_grace", 1, "invalid duration");
    expect_one_error("shutdown_grace = \"\"\n", "shutdown_grace", 1, "invalid duration");
    expect_one_error("shutdown_grace = \"10\"\n", "shutdown_grace", 1, "invalid duration");
}

TEST(ConfigDurations, CapShorterThanBaseIsRefused) {
    expect_one_error("[retry]\nbase = \"10m\"\ncap = \"5m\"\n", "retry.cap", 3,
                     "not be shorter than retry.base (10m)");
}

// ---- ranges and types ------------------------------------------------------------------------------------

TEST(ConfigRanges, OutOfRangeValuesAreRefused) {
    expect_one_error("[api]\nmax_connections = 0\n", "api.max_connections", 2, "got 0");
    expect_one_error("[retry]\nmax_attempts = 0\n", "retry.max_attempts", 2, "must be at least 1, got 0");
    expect_one_error("[retry]\nfactor = 0.5\n", "retry.factor", 2, "at least 1");
    expect_one_error("[retry]\nfactor = inf\n", "retry.factor", 2, "finite");
    expect_one_error("[retry]\nfactor = nan\n", "retry.factor", 2, "finite");
    expect_one_error("[spool]\nmax_file_bytes = 0\n", "spool.max_file_bytes", 2, "got 0");
    expect_one_error("[spool]\nmax_line_bytes = -5\n", "spool.max_line_bytes", 2, "got -5");
    for (const char* share : {"0", "0.0", "1", "1.0", "1.5", "-0.1"}) {
        expect_one_error(std::string("[pacing]\nhousekeeping_share = ") + share + "\n",
                         "pacing.housekeeping_share", 2, "between 0 and 1");
    }
    expect_one_error("[[accounts]]\nname = \"a\"\nrate = 0\n", "accounts[0].rate", 3,
                     "between 1 and 1000, got 0");
    expect_one_error("[[accounts]]\nname = \"a\"\nrate = 1001\n", "accounts[0].rate", 3, "got 1001");
}

TEST(ConfigRanges, WrongTypesAreRefused) {
    expect_one_error("[retry]\nfactor = \"2\"\n", "retry.factor", 2, R"(expected a number, got string "2")");
    expect_one_error("[api]\nmax_connections = 256.0\n", "api.max_connections", 2,
                     "expected an integer, got float");
    expect_one_error("[api]\nbase_url = 42\n", "api.base_url", 2, "expected a string, got integer 42");
    expect_one_error("api = 5\n", "api", 1, "expected a table ([api]), got integer 5");
    expect_one_error("[log]\nlevel = true\n", "log.level", 2, "got boolean true");
    expect_one_error("[queue]\npath = [\"a\"]\n", "queue.path", 2, "got an array");
    expect_one_error("[spool]\ndir = \"\"\n", "spool.dir", 2, "must not be empty");
}

TEST(ConfigRanges, SmallestValidValuesAreAccepted) {
    const config c = parse_ok(
        "[retry]\nfactor = 1\nmax_attempts = 1\n[api]\nmax_connections = 1\n[pacing]\nhousekeeping_share = "
        "0.01\n");
    EXPECT_EQ(c.retry.factor, 1.0);
    EXPECT_EQ(c.retry.max_attempts, 1u);
    EXPECT_EQ(c.api.max_connections, 1u);
    EXPECT_EQ(c.pacing.housekeeping_share, 0.01);
}

// ---- enums ---------------------------------------------------------------------------------------------

TEST(ConfigEnums, UnknownValueListsChoicesAndSuggests) {
    expect_one_error(
        "[spool]\non_invalid_recipient = \"rejectfile\"\n", "spool.on_invalid_recipient", 2,
        R"(invalid value "rejectfile" (expected "skip" or "reject_file"); did you mean "reject_file"?)");
    expect_one_error("[retry]\non_ambiguous = \"holds\"\n", "retry.on_ambiguous", 2,
                     R"(did you mean "hold"?)");
    expect_one_error("[log]\nlevel = \"verbose\"\n", "log.level", 2,
                     R"(expected "trace", "debug", "info", "warn", "error", "critical" or "off")");
}

TEST(ConfigEnums, EveryLogLevelIsRead) {
    EXPECT_EQ(parse_ok("[log]\nlevel = \"trace\"\n").log.level, log_level::trace);
    EXPECT_EQ(parse_ok("[log]\nlevel = \"warn\"\n").log.level, log_level::warn);
    EXPECT_EQ(parse_ok("[log]\nlevel = \"off\"\n").log.level, log_level::off);
}

// ---- unknown keys and syntax -----------------------------------------------------------------------------

TEST(ConfigUnknownKeys, TypoSuggestsClosestKey) {
    expect_one_error("[retry]\nbsae = \"2s\"\n", "retry.bsae", 2, R"(unknown key; did you mean "base"?)");
    expect_one_error("[retyr]\nbase = \"2s\"\n", "retyr", 1, R"(did you mean "retry"?)");
    expect_one_error("shutdown_grase = \"1s\"\n", "shutdown_grase", 1, R"(did you mean "shutdown_grace"?)");
    expect_one_error("[api]\nmax_conections = 3\n", "api.max_conections", 2,
                     R"(did you mean "max_connections"?)");
    expect_one_error("[[accounts]]\nname = \"a\"\nkey_evn = \"X\"\n", "accounts[0].key_evn", 3,
                     R"(did you mean "key_env"?)");
    expect_one_error("[[instances]]\nid = \"7c9e6679-7425-40de-944b-e07fc1f90ae7\"\nper_huor = 1\n",
                     "instances[0].per_huor", 3, R"(did you mean "per_hour"?)");
}

TEST(ConfigUnknownKeys, FarKeyGetsNoSuggestion) {
    const auto e = only_error(parse_with_account("frobnicate = 1\n"));
    EXPECT_EQ(e.key, "frobnicate");
    EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigUnknownKeys, KeyInWrongTableIsUnknown) {
    expect_one_error("[api]\nrate = 10\n", "api.rate", 2, "unknown key");
}

TEST(ConfigUnknownKeys, OddKeyNamesAreQuotedInPath) {
    expect_one_error("[api]\n\"base url\" = \"x\"\n", R"(api."base url")", 2, "unknown key");
}

TEST(ConfigSyntax, SyntaxErrorHasLineAndNoKey) {
    const auto r = parse("[[accounts]]\nname = \"shop\"\nrate = = 3\n");
    const auto e = only_error(r);
    EXPECT_EQ(e.line, 3u);
    EXPECT_GT(e.column, 0u);
    EXPECT_TRUE(e.key.empty());
    EXPECT_EQ(e.message.rfind("TOML syntax error: ", 0), 0u) << e.message;
    EXPECT_EQ(e.to_string().rfind("msgflashd.toml:3: TOML syntax error: ", 0), 0u) << e.to_string();
}

TEST(ConfigSyntax, DuplicateTomlKeyIsASyntaxError) {
    const auto e = only_error(parse("[api]\ntimeout = \"1s\"\ntimeout = \"2s\"\n"));
    EXPECT_EQ(e.line, 3u);
}

TEST(ConfigSyntax, EmptyInputHasNoAccounts) {
    const auto e = only_error(parse(""));
    EXPECT_EQ(e.key, "accounts");
    EXPECT_EQ(e.line, 0u);
    EXPECT_EQ(e.to_string(),
              "msgflashd.toml: accounts: no [[accounts]]: at least one account (an API key) is needed to "
              "send anything");
}

TEST(ConfigSyntax, AllErrorsAreCollectedInFileOrder) {
    const auto r = parse(R"([retry]
base = "2x"
factor = 0
[api]
timeout = "soon"
unknown = 1
[[instances]]
id = "nope"
)");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 6u) << all_errors(r);
    EXPECT_EQ(r.errors[0].key, "retry.base");
    EXPECT_EQ(r.errors[0].line, 2u);
    EXPECT_EQ(r.errors[1].key, "retry.factor");
    EXPECT_EQ(r.errors[1].line, 3u);
    EXPECT_EQ(r.errors[2].key, "api.timeout");
    EXPECT_EQ(r.errors[2].line, 5u);
    EXPECT_EQ(r.errors[3].key, "api.unknown");
    EXPECT_EQ(r.errors[3].line, 6u);
    EXPECT_EQ(r.errors[4].key, "instances[0].id");
    EXPECT_EQ(r.errors[4].line, 8u);
    EXPECT_EQ(r.errors[5].key, "accounts");
    EXPECT_EQ(r.errors[5].line, 0u);
}

// ---- accounts ------------------------------------------------------------------------------------------

TEST(ConfigAccounts, EmptyArrayIsRefused) {
    const auto e = only_error(parse("accounts = []\n"));
    EXPECT_EQ(e.key, "accounts");
    EXPECT_EQ(e.line, 1u);
}

TEST(ConfigAccounts, PlainTableIsRefused) {
    const auto r = parse("[accounts]\nname = \"shop\"\n");
    ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
    EXPECT_EQ(r.errors[0].key, "accounts");
    EXPECT_EQ(r.errors[0].line, 1u);
    EXPECT_NE(r.errors[0].message.find("expected an array of tables ([[accounts]]), got a table"),
              std::string::npos);
}

TEST(ConfigAccounts, DuplicateNamesAreRefused) {
    const auto r = parse(R"([[accounts]]
name = "shop"
key_env = "A"

[[accounts]]
name = "shop"
key_env = "B"
)");
    const auto e = only_error(r);
    EXPECT_EQ(e.key, "accounts[1].name");
    EXPECT_EQ(e.line, 6u);
    EXPECT_EQ(e.message, R"(duplicate account name "shop" (also accounts[0], line 2))");
}

TEST(ConfigAccounts, MissingNameIsRefusedAtTheTable) {
    const auto r = parse("\n[[accounts]]\nkey_env = \"A\"\n");
    const auto e = only_error(r);
    EXPECT_EQ(e.key, "accounts[0].name");
    EXPECT_EQ(e.line, 2u);
    EXPECT_NE(e.message.find("missing"), std::string::npos);
}

TEST(ConfigAccounts, NamesThatCannotBeFileNamesAreRefused) {
    for (const char* name : {"", "../etc", ".hidden", "my shop", "a/b"}) {
        const auto r = parse(std::string("[[accounts]]\nname = \"") + name + "\"\n");
        const auto e = only_error(r);
        EXPECT_EQ(e.key, "accounts[0].name") << name;
        EXPECT_EQ(e.line, 2u);
        EXPECT_NE(e.message.find("invalid account name"), std::string::npos);
    }
    EXPECT_TRUE(is_valid_account_name("shop-eu_2.prod"));
    EXPECT_FALSE(is_valid_account_name(std::string(65, 'a')));
}

TEST(ConfigAccounts, BothKeySourcesAreRefused) {
    const auto e = only_error(parse("[[accounts]]\nname = \"shop\"\nkey_file = \"/k\"\nkey_env = \"K\"\n"));
    EXPECT_EQ(e.key, "accounts[0].key_env");
    EXPECT_EQ(e.line, 4u);
    EXPECT_NE(e.message.find("both set"), std::string::npos);
}

TEST(ConfigAccounts, NoKeySourceMeansSystemdCredential) {
    const auto r = parse("[[accounts]]\nname = \"shop\"\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_TRUE(r.value->accounts[0].key_file.empty());
    EXPECT_TRUE(r.value->accounts[0].key_env.empty());
}

TEST(ConfigAccounts, EmptyStringsMeanUnset) {
    const auto r = parse("[[accounts]]\nname = \"shop\"\nkey_file = \"\"\nkey_env = \"K\"\nteam_id = \"\"\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_TRUE(r.value->accounts[0].team_id.empty());
}

TEST(ConfigAccounts, BadEnvironmentVariableNameIsRefused) {
    const auto e = only_error(parse("[[accounts]]\nname = \"shop\"\nkey_env = \"1BAD-NAME\"\n"));
    EXPECT_EQ(e.key, "accounts[0].key_env");
    EXPECT_EQ(e.line, 3u);
}

TEST(ConfigAccounts, TeamIdMustBeAUuidAndIsLowerCased) {
    const auto e = only_error(parse("[[accounts]]\nname = \"t\"\nteam_id = \"team-42\"\n"));
    EXPECT_EQ(e.key, "accounts[0].team_id");
    EXPECT_EQ(e.line, 3u);
    const auto r = parse("[[accounts]]\nname = \"t\"\nteam_id = \"7C9E6679-7425-40DE-944B-E07FC1F90AE7\"\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->accounts[0].team_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
}

TEST(ConfigAccounts, RateAboveDocumentedLimitWarns) {
    const auto r = parse("[[accounts]]\nname = \"a\"\nrate = 50\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->accounts[0].rate, 50u);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].key, "accounts[0].rate");
    EXPECT_EQ(r.warnings[0].line, 3u);
}

TEST(ConfigAccounts, SecondAccountErrorsUseItsIndex) {
    const auto r = parse("[[accounts]]\nname = \"a\"\n[[accounts]]\nname = \"b\"\nrate = \"fast\"\n");
    const auto e = only_error(r);
    EXPECT_EQ(e.key, "accounts[1].rate");
    EXPECT_EQ(e.line, 5u);
}

TEST(ConfigAccounts, InlineTablesAreAccepted) {
    const auto r = parse("accounts = [{ name = \"a\", key_env = \"A\" }, { name = \"b\" }]\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    ASSERT_EQ(r.value->accounts.size(), 2u);
    EXPECT_NE(r.value->find_account("b"), nullptr);
    EXPECT_EQ(r.value->find_account("c"), nullptr);
}

TEST(ConfigAccounts, PastedKeyIsRefusedAndNeverEchoed) {
    const std::string fake = "msgf_live_FAKE_test_key_1";
    const auto r = parse("[[accounts]]\nname = \"shop\"\nkey_env = \"" + fake +
                         "\"\n[api]\nca_file = 7\nkey = \"" + fake + "\"\n");
    ASSERT_FALSE(r.ok());
    bool pasted_reported = false;
    for (const auto& e : r.errors) {
        EXPECT_EQ(e.to_string().find("FAKE_test_key"), std::string::npos) << e.to_string();
        pasted_reported = pasted_reported || (e.key == "accounts[0].key_env" && e.line == 3 &&
                                              e.message.find("looks like an API key") != std::string::npos);
    }
    EXPECT_TRUE(pasted_reported) << all_errors(r);
}

TEST(ConfigAccounts, KeyLikeValueInTypeErrorIsNotEchoed) {
    const auto r = parse_with_account(
        "[[instances]]\nid = \"7c9e6679-7425-40de-944b-e07fc1f90ae7\"\n"
        "per_day = \"msgf_team_FAKE_test_key_2\"\n");
    // Reported as a pasted key, and the type error for the same value must not quote it either.
    ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
    for (const auto& e : r.errors) {
        EXPECT_EQ(e.key, "instances[0].per_day");
        EXPECT_EQ(e.to_string().find("FAKE"), std::string::npos) << e.to_string();
    }
}

// ---- instances -----------------------------------------------------------------------------------------

TEST(ConfigInstances, CapsAreOptional) {
    const config c = parse_ok(R"([[instances]]
id = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
account = "shop"
per_minute = 5
per_day = 1000
min_interval = "3s"

[[instances]]
id = "16fd2706-8baf-433b-82eb-8c7fada847da"
)");
    ASSERT_EQ(c.instances.size(), 2u);
    const auto& a = c.instances[0];
    EXPECT_EQ(a.id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    EXPECT_EQ(a.account, "shop");
    EXPECT_EQ(a.per_minute, 5u);
    EXPECT_FALSE(a.per_hour.has_value());
    EXPECT_EQ(a.per_day, 1000u);
    EXPECT_EQ(a.min_interval, milliseconds(3000));
    const auto& b = c.instances[1];
    EXPECT_TRUE(b.account.empty());
    EXPECT_FALSE(b.per_minute || b.per_hour || b.per_day || b.min_interval);
    EXPECT_EQ(c.find_instance("16fd2706-8baf-433b-82eb-8c7fada847da"), &c.instances[1]);
}

TEST(ConfigInstances, BadUuidIsRefused) {
    for (const char* id : {"7c9e6679742540de944be07fc1f90ae7", "7c9e6679-7425-40de-944b-e07fc1f90aeg",
                           "{7c9e6679-7425-40de-944b-e07fc1f90ae7}", ""}) {
        expect_one_error(std::string("[[instances]]\nid = \"") + id + "\"\n", "instances[0].id", 2,
                         "invalid instance id");
    }
}

TEST(ConfigInstances, MissingIdIsRefused) {
    expect_one_error("[[instances]]\nper_day = 5\n", "instances[0].id", 1, "missing");
}

TEST(ConfigInstances, UnknownAccountSuggestsClosest) {
    expect_one_error("[[instances]]\nid = \"7c9e6679-7425-40de-944b-e07fc1f90ae7\"\naccount = \"shpo\"\n",
                     "instances[0].account", 3, R"(unknown account "shpo"; did you mean "shop"?)");
}

TEST(ConfigInstances, DuplicateIdIsRefused) {
    expect_one_error(R"([[instances]]
id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
[[instances]]
id = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
)",
                     "instances[1].id", 4, "duplicate instance id (also instances[0], line 2)");
}

TEST(ConfigInstances, ZeroCapsAreRefused) {
    const std::string head = "[[instances]]\nid = \"7c9e6679-7425-40de-944b-e07fc1f90ae7\"\n";
    expect_one_error(head + "per_minute = 0\n", "instances[0].per_minute", 3, "got 0");
    expect_one_error(head + "per_hour = -1\n", "instances[0].per_hour", 3, "got -1");
    expect_one_error(head + "per_day = 0\n", "instances[0].per_day", 3, "got 0");
    expect_one_error(head + "min_interval = \"0s\"\n", "instances[0].min_interval", 3, "longer than 0s");
    expect_one_error(head + "min_interval = 3\n", "instances[0].min_interval", 3,
                     "expected a duration string");
}

// ---- api.base_url ----------------------------------------------------------------------------------------

http_origin origin_of(const std::string& url) {
    return parse_ok("[api]\nbase_url = \"" + url + "\"\n").api.base_url;
}

void expect_url_refused(const std::string& url, std::string_view message_part) {
    expect_one_error("[api]\nbase_url = \"" + url + "\"\n", "api.base_url", 2, message_part);
}

TEST(ConfigBaseUrl, HttpsFormsAreAccepted) {
    EXPECT_EQ(origin_of("https://srv.msgflash.com/").to_string(), "https://srv.msgflash.com");
    EXPECT_EQ(origin_of("HTTPS://SRV.MsgFlash.com").host, "srv.msgflash.com");
    const auto o = origin_of("https://10.0.0.5:8443");
    EXPECT_TRUE(o.tls);
    EXPECT_EQ(o.host, "10.0.0.5");
    EXPECT_EQ(o.port, 8443);
    const auto v6 = origin_of("https://[2001:db8::1]:9443");
    EXPECT_EQ(v6.host, "2001:db8::1");
    EXPECT_EQ(v6.to_string(), "https://[2001:db8::1]:9443");
}

TEST(ConfigBaseUrl, HttpIsAcceptedOnLoopbackOnly) {
    for (const char* url : {"http://127.0.0.1:8080", "http://127.5.6.7", "http://localhost:18080/",
                            "http://LOCALHOST", "http://[::1]:8080"}) {
        SCOPED_TRACE(url);
        const auto o = origin_of(url);
        EXPECT_FALSE(o.tls);
    }
    EXPECT_EQ(origin_of("http://127.0.0.1").port, 80);
    EXPECT_EQ(origin_of("http://[::1]:8080").to_string(), "http://[::1]:8080");
}

TEST(ConfigBaseUrl, HttpOnNonLoopbackIsRefused) {
    for (const char* url : {"http://srv.msgflash.com", "http://10.0.0.1:8080", "http://0.0.0.0",
                            "http://127.0.0.1.nip.io", "http://localhost.example.com",
                            "http://[::ffff:127.0.0.1]", "http://[2001:db8::1]", "http://128.0.0.1"}) {
        expect_url_refused(url, "http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost)");
    }
}

TEST(ConfigBaseUrl, PathsQueriesAndOddFormsAreRefused) {
    expect_url_refused("https://srv.msgflash.com/api/v1",
                       R"(the daemon adds /api/v1/… itself (remove "/api/v1"))");
    expect_url_refused("https://srv.msgflash.com?x=1", "must be only scheme, host and port");
    expect_url_refused("https://srv.msgflash.com#top", "must be only scheme, host and port");
    expect_url_refused("ftp://srv.msgflash.com", "must start with https://");
    expect_url_refused("srv.msgflash.com", "must start with https://");
    expect_url_refused("https://user:pw@srv.msgflash.com", "user information");
    expect_url_refused("https://", "has no host");
    expect_url_refused("https://:443", "has no host");
    expect_url_refused("https://srv.msgflash.com:70000", "invalid port");
    expect_url_refused("https://srv.msgflash.com:", "invalid port");
    expect_url_refused("https://srv.msgflash.com:0", "port 0");
    expect_url_refused("https://::1", "brackets");
    expect_url_refused("https://[::1", "unterminated");
    expect_url_refused("https://[zz::1]", "invalid IPv6");
    expect_url_refused("https://300.1.1.1", "invalid IPv4");
    expect_url_refused("https://bad_host.com", "invalid host name");
    expect_url_refused("https://-bad.com", "invalid host name");
}

// ---- admin.listen ----------------------------------------------------------------------------------------

TEST(ConfigAdminListen, FormsAreRead) {
    auto l = parse_ok("[admin]\nlisten = \"[::1]:9000\"\n").admin.listen;
    EXPECT_EQ(l.type, listen_address::kind::tcp);
    EXPECT_EQ(l.host, "::1");
    EXPECT_EQ(l.port, 9000);
    EXPECT_EQ(l.to_string(), "[::1]:9000");
    l = parse_ok("[admin]\nlisten = \"localhost:0\"\n").admin.listen;
    EXPECT_EQ(l.port, 0);
}

TEST(ConfigAdminListen, NonLoopbackWarns) {
    const auto r = parse_with_account("[admin]\nlisten = \"0.0.0.0:9464\"\n");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].key, "admin.listen");
    EXPECT_EQ(r.warnings[0].line, 2u);
}

TEST(ConfigAdminListen, BadFormsAreRefused) {
    expect_one_error("[admin]\nlisten = \"localhost\"\n", "admin.listen", 2, "expected \"host:port\"");
    expect_one_error("[admin]\nlisten = \"unix:\"\n", "admin.listen", 2, "needs a socket path");
    expect_one_error("[admin]\nlisten = \"127.0.0.1:99999\"\n", "admin.listen", 2, "invalid port");
    expect_one_error("[admin]\nlisten = \"unix:/" + std::string(120, 'x') + "\"\n", "admin.listen", 2,
                     "fit in a unix socket address");
}

// ---- paths ---------------------------------------------------------------------------------------------

TEST(ConfigPaths, RelativePathsResolveAgainstBaseDir) {
    const auto r = parse_config(R"([spool]
dir = "spool"
[queue]
path = "../state/queue.db"
[api]
ca_file = "ca.pem"
[admin]
listen = "unix:run/admin.sock"
[[accounts]]
name = "shop"
key_file = "keys/shop"
)",
                                "test.toml", "/etc/msgflashd");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const config& c = *r.value;
    EXPECT_EQ(c.spool.dir, "/etc/msgflashd/spool");
    EXPECT_EQ(c.queue.path, "/etc/state/queue.db");
    EXPECT_EQ(c.api.ca_file, "/etc/msgflashd/ca.pem");
    EXPECT_EQ(c.admin.listen.path, "/etc/msgflashd/run/admin.sock");
    EXPECT_EQ(c.accounts[0].key_file, "/etc/msgflashd/keys/shop");
}

TEST(ConfigPaths, AbsolutePathsAreKept) {
    const auto r =
        parse_config("[spool]\ndir = \"/srv/spool\"\n" + std::string(one_account), "t.toml", "/etc");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value->spool.dir, "/srv/spool");
}

// ---- load_config -----------------------------------------------------------------------------------------

class ConfigLoad : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "msgflash-config-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path write(const std::string& name, const std::string& text) {
        auto p = dir_ / name;
        std::ofstream(p) << text;
        return p;
    }

    std::filesystem::path dir_;
};

TEST_F(ConfigLoad, ReadsFileAndResolvesAgainstItsDirectory) {
    const auto p = write("msgflashd.toml", "[queue]\npath = \"q.db\"\n" + std::string(one_account));
    const auto r = load_config(p);
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->queue.path, dir_ / "q.db");
}

TEST_F(ConfigLoad, ErrorsNameTheFileAsGiven) {
    const auto p = write("bad.toml", "[retry]\nbase = \"2x\"\n" + std::string(one_account));
    const auto r = load_config(p);
    const auto e = only_error(r);
    EXPECT_EQ(e.source, p.string());
    EXPECT_EQ(e.to_string().rfind(p.string() + ":2: retry.base: invalid duration", 0), 0u) << e.to_string();
}

TEST_F(ConfigLoad, MissingFileIsAnError) {
    const auto r = load_config(dir_ / "nope.toml");
    const auto e = only_error(r);
    EXPECT_EQ(e.line, 0u);
    EXPECT_NE(e.message.find("cannot open"), std::string::npos);
}

TEST_F(ConfigLoad, HugeFileIsRefused) {
    const auto p = write("huge.toml", std::string(2 << 20, '#'));
    const auto e = only_error(load_config(p));
    EXPECT_NE(e.message.find("larger than 1 MiB"), std::string::npos);
}

// ---- helpers ---------------------------------------------------------------------------------------------

TEST(ConfigHelpers, NormalizeUuid) {
    EXPECT_EQ(normalize_uuid("7C9E6679-7425-40DE-944B-E07FC1F90AE7"), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    EXPECT_FALSE(normalize_uuid("7c9e6679-7425-40de-944b-e07fc1f90ae"));
    EXPECT_FALSE(normalize_uuid("7c9e6679x7425-40de-944b-e07fc1f90ae7"));
}

TEST(ConfigHelpers, ErrorToStringWithoutLineOrKey) {
    EXPECT_EQ((config_error{"a.toml", 0, 0, "", "boom"}.to_string()), "a.toml: boom");
    EXPECT_EQ((config_error{"a.toml", 3, 1, "", "boom"}.to_string()), "a.toml:3: boom");
    EXPECT_EQ((config_error{"a.toml", 3, 1, "x.y", "boom"}.to_string()), "a.toml:3: x.y: boom");
}

}  // namespace
}  // namespace msgflash
