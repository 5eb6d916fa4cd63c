// load_api_key / make_api_key: key sources and their order, key file permissions, key rules, redaction.
#include "config/api_keys.hpp"

#include <concepts>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

namespace msgflash {
namespace {

// Obviously fake keys: no long alphanumeric runs after the prefix. (std::string: they are concatenated and
// passed by value everywhere; a throwing allocation at start-up would just end the test run.)
const std::string personal_key = "msgf_live_FAKE_test_key_1";        // NOLINT(cert-err58-cpp)
const std::string other_personal_key = "msgf_live_FAKE_test_key_2";  // NOLINT(cert-err58-cpp)
const std::string team_key = "msgf_team_FAKE_test_key_3";            // NOLINT(cert-err58-cpp)
constexpr std::string_view team_uuid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

template <typename T>
concept streamable = requires(std::ostream& os, const T& t) {
    os << t;
};

static_assert(!streamable<api_key>, "an api_key must not be streamable");
static_assert(!std::is_convertible_v<api_key, std::string_view>);
static_assert(!std::is_convertible_v<api_key, std::string>);
static_assert(!std::is_default_constructible_v<api_key>);

class ApiKeys : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "msgflash-keys-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path write(const std::string& name, const std::string& text, mode_t mode) {
        auto p = dir_ / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        EXPECT_EQ(::chmod(p.c_str(), mode), 0);  // explicit: the umask must not decide
        return p;
    }

    account_config file_account(const std::filesystem::path& p, std::string team_id = "") const {
        account_config a;
        a.name = "shop";
        a.key_file = p;
        a.team_id = std::move(team_id);
        return a;
    }

    api_key_result load(const account_config& a, const std::filesystem::path& creds = {}) {
        return load_api_key(a, env_, creds);
    }

    // The error of r as text; fails the test if r holds a key, and if the text holds any of the keys.
    static std::string error_text(const api_key_result& r) {
        EXPECT_FALSE(r.ok());
        EXPECT_FALSE(r.value.has_value());
        if (!r.error) {
            ADD_FAILURE() << "no error";
            return {};
        }
        std::string text = r.error->to_string();
        for (const auto& k : {personal_key, other_personal_key, team_key}) {
            EXPECT_EQ(text.find(k), std::string::npos) << text;
            EXPECT_EQ(text.find("FAKE_test"), std::string::npos) << text;
        }
        return text;
    }

    std::filesystem::path dir_;
    std::map<std::string, std::string> vars_;
    env_lookup env_ = [this](const std::string& name) -> std::optional<std::string> {
        auto it = vars_.find(name);
        return it == vars_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
};

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// ---- key_file permissions ------------------------------------------------------------------------------

TEST_F(ApiKeys, KeyFileMode0600IsAccepted) {
    const auto r = load(file_account(write("shop", personal_key + "\n", 0600)));
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_EQ(r.value->reveal(), personal_key);
    EXPECT_FALSE(r.value->is_team());
    EXPECT_TRUE(r.value->team_id().empty());
}

TEST_F(ApiKeys, KeyFileMode0640IsAccepted) {
    const auto r = load(file_account(write("shop", personal_key, 0640)));
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_EQ(r.value->reveal(), personal_key);
}

TEST_F(ApiKeys, KeyFileMode0400IsAccepted) {
    EXPECT_TRUE(load(file_account(write("shop", personal_key, 0400))).ok());
}

TEST_F(ApiKeys, KeyFileMode0644IsRefusedWithModeInOctal) {
    const auto p = write("shop", personal_key, 0644);
    const std::string text = error_text(load(file_account(p)));
    EXPECT_EQ(
        text,
        "account \"shop\": key_file " + p.string() +
            ": mode 0644: must not be readable by others or writable by group/others (chmod 0600 or 0640)");
}

TEST_F(ApiKeys, KeyFileGroupOrOtherWritableIsRefused) {
    for (mode_t mode : {0660, 0602, 0620, 0604, 0666}) {
        SCOPED_TRACE(mode);
        const std::string text = error_text(load(file_account(write("shop", personal_key, mode))));
        EXPECT_TRUE(contains(text, "mode 0" + std::to_string(mode / 64) + std::to_string(mode / 8 % 8) +
                                       std::to_string(mode % 8) + ":"))
            << text;
    }
}

TEST_F(ApiKeys, KeyFileSymlinkIsRefused) {
    const auto target = write("real", personal_key, 0600);
    const auto link = dir_ / "shop";
    std::filesystem::create_symlink(target, link);
    const std::string text = error_text(load(file_account(link)));
    EXPECT_TRUE(contains(text, "symbolic link")) << text;
    EXPECT_TRUE(contains(text, link.string())) << text;
}

TEST_F(ApiKeys, KeyFileDirectoryIsRefused) {
    const auto d = dir_ / "shop";
    std::filesystem::create_directory(d);
    ::chmod(d.c_str(), 0700);
    EXPECT_TRUE(contains(error_text(load(file_account(d))), "is a directory"));
}

TEST_F(ApiKeys, KeyFileFifoIsRefusedWithoutBlocking) {
    const auto p = dir_ / "shop";
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    EXPECT_TRUE(contains(error_text(load(file_account(p))), "not a regular file"));
}

TEST_F(ApiKeys, KeyFileMissingIsRefused) {
    EXPECT_TRUE(contains(error_text(load(file_account(dir_ / "nope"))), "does not exist"));
}

TEST_F(ApiKeys, KeyFileEmptyOrWhitespaceIsRefused) {
    EXPECT_TRUE(contains(error_text(load(file_account(write("a", "", 0600)))), "is empty"));
    EXPECT_TRUE(contains(error_text(load(file_account(write("b", " \n\r\n", 0600)))), "is empty"));
}

TEST_F(ApiKeys, KeyFileOver4KiBIsRefused) {
    const std::string text = error_text(load(file_account(write("shop", std::string(4097, 'x'), 0600))));
    EXPECT_TRUE(contains(text, "4097 bytes")) << text;
}

TEST_F(ApiKeys, KeyFileTrailingWhitespaceIsTrimmed) {
    const auto r = load(file_account(write("shop", personal_key + " \t\r\n\n", 0600)));
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_EQ(r.value->reveal(), personal_key);
}

TEST_F(ApiKeys, KeyFileWithTwoLinesIsRefused) {
    const std::string text =
        error_text(load(file_account(write("shop", personal_key + "\n" + personal_key, 0600))));
    EXPECT_TRUE(contains(text, "whitespace")) << text;
}

// ---- key_env and credentials ----------------------------------------------------------------------------

TEST_F(ApiKeys, KeyEnvIsRead) {
    vars_["MSGFLASH_SHOP_KEY"] = personal_key + "\n";
    account_config a;
    a.name = "shop";
    a.key_env = "MSGFLASH_SHOP_KEY";
    const auto r = load(a);
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_EQ(r.value->reveal(), personal_key);
}

TEST_F(ApiKeys, KeyEnvUnsetOrEmptyIsRefused) {
    account_config a;
    a.name = "shop";
    a.key_env = "MSGFLASH_SHOP_KEY";
    EXPECT_EQ(
        error_text(load(a)),
        "account \"shop\": key_env MSGFLASH_SHOP_KEY: environment variable MSGFLASH_SHOP_KEY is not set");
    vars_["MSGFLASH_SHOP_KEY"] = "";
    EXPECT_TRUE(contains(error_text(load(a)), "is empty"));
}

TEST_F(ApiKeys, CredentialsDirectoryIsUsedWhenNothingElseIsSet) {
    const auto creds = dir_ / "creds";
    write("creds/shop", personal_key + "\n", 0400);
    account_config a;
    a.name = "shop";
    const auto r = load(a, creds);
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_EQ(r.value->reveal(), personal_key);
}

TEST_F(ApiKeys, CredentialIsCheckedLikeAKeyFile) {
    const auto creds = dir_ / "creds";
    const auto p = write("creds/shop", personal_key, 0644);
    account_config a;
    a.name = "shop";
    const std::string text = error_text(load(a, creds));
    EXPECT_TRUE(contains(text, "credential " + p.string() + ": mode 0644")) << text;
}

TEST_F(ApiKeys, KeyFileWinsOverCredential) {
    const auto creds = dir_ / "creds";
    write("creds/shop", other_personal_key, 0400);
    const auto r = load(file_account(write("shop", personal_key, 0600)), creds);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value->reveal(), personal_key);
}

TEST_F(ApiKeys, NoSourceListsWhatWasTried) {
    account_config a;
    a.name = "shop";
    std::string text = error_text(load(a));
    EXPECT_TRUE(
        contains(text, "no API key: key_file and key_env are not set, and $CREDENTIALS_DIRECTORY is not set"))
        << text;
    EXPECT_TRUE(contains(text, "account \"shop\"")) << text;

    const auto creds = dir_ / "creds";
    std::filesystem::create_directory(creds);
    text = error_text(load(a, creds));
    EXPECT_TRUE(contains(text, "there is no systemd credential " + (creds / "shop").string())) << text;
}

TEST_F(ApiKeys, BothSourcesAreRefused) {
    vars_["K"] = personal_key;
    auto a = file_account(write("shop", personal_key, 0600));
    a.key_env = "K";
    EXPECT_TRUE(contains(error_text(load(a)), "key_file and key_env are both set"));
}

// ---- key rules -----------------------------------------------------------------------------------------

TEST_F(ApiKeys, WrongPrefixIsRefused) {
    for (const std::string key : {"sk_live_FAKE_test_key_1", "msgf_test_FAKE_key_1_x",
                                  "MSGF_LIVE_FAKE_test_key_1", " msgf_live_FAKE_test_key_1"}) {
        const std::string text = error_text(make_api_key(key, ""));
        EXPECT_TRUE(contains(text, "must start with msgf_live_ (personal key) or msgf_team_ (team key)"))
            << text;
        EXPECT_FALSE(contains(text, key)) << text;
    }
}

TEST_F(ApiKeys, WhitespaceAndControlCharactersAreRefused) {
    for (const std::string& key : std::vector<std::string>{
             "msgf_live_FAKE test_key_1", "msgf_live_FAKE\ttest_key_1",
             std::string("msgf_live_FAKE\0test_key_1", 25), "msgf_live_FAKEétest_key_1"}) {
        const std::string text = error_text(make_api_key(key, ""));
        EXPECT_TRUE(contains(text, "offset 14")) << text;
    }
}

TEST_F(ApiKeys, LengthBoundsAreChecked) {
    EXPECT_TRUE(
        contains(error_text(make_api_key("msgf_live_FAKE", "")), "14 characters long; expected 16 to 256"));
    std::string longest = "msgf_live_";
    while (longest.size() < 256) {
        longest += "FAKE_";
    }
    longest.resize(256);
    EXPECT_TRUE(make_api_key(longest, "").ok());
    EXPECT_TRUE(contains(error_text(make_api_key(longest + "x", "")), "257 characters long"));
    EXPECT_TRUE(make_api_key("msgf_live_FAKE_1", "").ok());
}

TEST_F(ApiKeys, TeamKeyWithoutTeamIdIsRefused) {
    const std::string text = error_text(make_api_key(team_key, ""));
    EXPECT_TRUE(contains(text, "team key (msgf_team_…) needs the account's team_id")) << text;
    EXPECT_TRUE(contains(text, "X-Team-Id")) << text;
}

TEST_F(ApiKeys, PersonalKeyWithTeamIdIsRefused) {
    const auto r = load(file_account(write("shop", personal_key, 0600), std::string(team_uuid)));
    const std::string text = error_text(r);
    EXPECT_TRUE(contains(text, "TEAM_KEY_REQUIRED")) << text;
    EXPECT_TRUE(contains(text, "personal key (msgf_live_…) must not have a team_id")) << text;
    EXPECT_TRUE(contains(text, "account \"shop\": key_file ")) << text;
}

TEST_F(ApiKeys, TeamKeyWithTeamIdIsAccepted) {
    const auto r = make_api_key(team_key, "7C9E6679-7425-40DE-944B-E07FC1F90AE7");
    ASSERT_TRUE(r.ok()) << r.error->to_string();
    EXPECT_TRUE(r.value->is_team());
    EXPECT_EQ(r.value->team_id(), team_uuid);
}

TEST_F(ApiKeys, TeamIdThatIsNotAUuidIsRefused) {
    EXPECT_TRUE(contains(error_text(make_api_key(team_key, "team-42")), "is not a UUID"));
}

// ---- redaction -------------------------------------------------------------------------------------------

TEST_F(ApiKeys, RedactedShowsPrefixAndLastFour) {
    const auto k = make_api_key(personal_key, "");
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k.value->redacted(), "msgf_live_…ey_1");
    const auto t = make_api_key(team_key, std::string(team_uuid));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value->redacted(), "msgf_team_…ey_3");
}

TEST_F(ApiKeys, ShortKeyShowsNoTail) {
    const auto k = make_api_key("msgf_live_FAKE_1", "");
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k.value->redacted(), "msgf_live_…");
}

TEST_F(ApiKeys, FmtPrintsTheRedactedForm) {
    const auto k = make_api_key(personal_key, "");
    ASSERT_TRUE(k.ok());
    const std::string out = fmt::format("key={} padded=[{:>20}]", *k.value, *k.value);
    EXPECT_EQ(out, "key=msgf_live_…ey_1 padded=[" + std::string(20 - 15, ' ') + "msgf_live_…ey_1]");
    EXPECT_FALSE(contains(out, personal_key));
}

TEST_F(ApiKeys, SpdlogPrintsTheRedactedForm) {
    std::ostringstream sink_text;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(sink_text);
    spdlog::logger logger("test", sink);
    const auto k = make_api_key(personal_key, "");
    ASSERT_TRUE(k.ok());
    logger.warn("loaded key {} for {}", *k.value, "shop");
    logger.flush();
    EXPECT_TRUE(contains(sink_text.str(), "loaded key msgf_live_…ey_1 for shop")) << sink_text.str();
    EXPECT_FALSE(contains(sink_text.str(), personal_key));
}

TEST_F(ApiKeys, CopiesAndMovesKeepTheKey) {
    auto r = make_api_key(personal_key, "");
    ASSERT_TRUE(r.ok());
    api_key copy = *r.value;
    EXPECT_TRUE(copy == *r.value);
    api_key moved = std::move(copy);
    EXPECT_EQ(moved.reveal(), personal_key);
    auto other = make_api_key(other_personal_key, "");
    ASSERT_TRUE(other.ok());
    moved = *other.value;
    EXPECT_EQ(moved.reveal(), other_personal_key);
    moved = std::move(*r.value);
    EXPECT_EQ(moved.reveal(), personal_key);
}

// ---- every account ---------------------------------------------------------------------------------------

TEST_F(ApiKeys, LoadApiKeysLoadsEveryAccount) {
    config c;
    c.accounts.push_back(file_account(write("shop", personal_key, 0600)));
    account_config team;
    team.name = "team";
    team.key_env = "TEAM_KEY";
    team.team_id = std::string(team_uuid);
    c.accounts.push_back(team);
    vars_["TEAM_KEY"] = team_key;
    const auto r = load_api_keys(c, env_, {});
    ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
    ASSERT_EQ(r.keys.size(), 2u);
    EXPECT_FALSE(r.keys.at("shop").is_team());
    EXPECT_TRUE(r.keys.at("team").is_team());
}

TEST_F(ApiKeys, SameKeyOnTwoAccountsIsRefused) {
    config c;
    c.accounts.push_back(file_account(write("shop", personal_key, 0600)));
    account_config second;
    second.name = "shop2";
    second.key_env = "K";
    c.accounts.push_back(second);
    vars_["K"] = personal_key;
    const auto r = load_api_keys(c, env_, {});
    ASSERT_EQ(r.errors.size(), 1u);
    const std::string text = r.errors[0].to_string();
    EXPECT_TRUE(contains(text, "account \"shop2\": uses the same API key as account \"shop\"")) << text;
    EXPECT_FALSE(contains(text, personal_key));
    EXPECT_EQ(r.keys.size(), 1u);
}

TEST_F(ApiKeys, LoadApiKeysCollectsEveryError) {
    config c;
    c.accounts.push_back(file_account(write("shop", personal_key, 0644)));
    account_config second;
    second.name = "other";
    second.key_env = "MISSING";
    c.accounts.push_back(second);
    const auto r = load_api_keys(c, env_, {});
    ASSERT_EQ(r.errors.size(), 2u);
    EXPECT_EQ(r.errors[0].account, "shop");
    EXPECT_EQ(r.errors[1].account, "other");
    EXPECT_TRUE(r.keys.empty());
}

}  // namespace
}  // namespace msgflash
