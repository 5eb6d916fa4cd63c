// msgflashctl's command line: every verb's forms, and the usage errors that make it exit 2.
#include "daemon/ctl_args.hpp"

#include <initializer_list>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/ctl_admin_client.hpp"

namespace msgflash::ctl {
namespace {

parse_result parse(std::initializer_list<std::string_view> words) {
    const std::vector<std::string_view> v(words);
    return parse_command_line(v);
}

TEST(CtlArgs, GlobalOptionsAnywhere) {
    auto r = parse({"--config", "/tmp/x.toml", "status", "--json"});
    ASSERT_TRUE(r.command) << r.error;
    EXPECT_EQ(r.command->verb, "status");
    EXPECT_EQ(r.command->config, "/tmp/x.toml");
    EXPECT_TRUE(r.command->json);

    auto eq = parse({"batches", "--config=/etc/a.toml"});
    ASSERT_TRUE(eq.command) << eq.error;
    EXPECT_EQ(eq.command->config, "/etc/a.toml");
    EXPECT_FALSE(eq.command->json);
}

TEST(CtlArgs, DefaultConfigPath) {
    auto r = parse({"status"});
    ASSERT_TRUE(r.command);
    EXPECT_EQ(r.command->config, "/etc/msgflashd/msgflashd.toml");
}

TEST(CtlArgs, JobsNeedsBatchAndAKnownState) {
    EXPECT_FALSE(parse({"jobs"}).command);
    auto r = parse({"jobs", "--batch", "b1", "--state", "dead"});
    ASSERT_TRUE(r.command) << r.error;
    EXPECT_EQ(r.command->option("--batch"), "b1");
    EXPECT_EQ(r.command->option("--state"), "dead");
    auto bad = parse({"jobs", "--batch", "b1", "--state", "gone"});
    EXPECT_FALSE(bad.command);
    EXPECT_NE(bad.error.find("gone"), std::string::npos);
    EXPECT_FALSE(parse({"jobs", "--batch"}).command);  // value missing
}

TEST(CtlArgs, PositionalCounts) {
    EXPECT_FALSE(parse({"watch"}).command);
    EXPECT_TRUE(parse({"watch", "b1"}).command);
    EXPECT_FALSE(parse({"watch", "b1", "b2"}).command);
    EXPECT_FALSE(parse({"status", "extra"}).command);
    EXPECT_FALSE(parse({"submit"}).command);
    EXPECT_TRUE(parse({"validate", "f.json", "--strict"}).command);
    EXPECT_TRUE(parse({"reconcile"}).command);
    EXPECT_TRUE(parse({"reconcile", "b1"}).command);
}

TEST(CtlArgs, ResumeTakesExactlyOneForm) {
    EXPECT_TRUE(parse({"resume", "b1"}).command);
    EXPECT_TRUE(parse({"resume", "--account", "shop"}).command);
    EXPECT_TRUE(parse({"resume", "--instance", "7c9e6679-7425-40de-944b-e07fc1f90ae7"}).command);
    EXPECT_FALSE(parse({"resume"}).command);
    EXPECT_FALSE(parse({"resume", "b1", "--account", "shop"}).command);
    EXPECT_FALSE(parse({"resume", "--account", "shop", "--instance", "x"}).command);
}

TEST(CtlArgs, RetryBatchOrDead) {
    EXPECT_TRUE(parse({"retry", "b1"}).command);
    auto dead = parse({"retry", "--dead"});
    ASSERT_TRUE(dead.command);
    EXPECT_TRUE(dead.command->flag("--dead"));
    EXPECT_FALSE(parse({"retry"}).command);
    EXPECT_FALSE(parse({"retry", "b1", "--dead"}).command);
}

TEST(CtlArgs, CampaignAndExport) {
    auto c = parse({"campaign", "pause", "c-1"});
    ASSERT_TRUE(c.command);
    EXPECT_EQ(c.command->positional, (std::vector<std::string>{"pause", "c-1"}));
    EXPECT_FALSE(parse({"campaign", "stop", "c-1"}).command);
    EXPECT_FALSE(parse({"campaign", "pause"}).command);
    EXPECT_TRUE(parse({"export", "b1", "--format", "ndjson"}).command);
    EXPECT_TRUE(parse({"export", "b1", "--format=csv"}).command);
    EXPECT_FALSE(parse({"export", "b1", "--format", "xml"}).command);
}

TEST(CtlArgs, UnknownVerbsAndOptionsAreUsageErrors) {
    auto v = parse({"frobnicate"});
    EXPECT_FALSE(v.command);
    EXPECT_NE(v.error.find("frobnicate"), std::string::npos);
    auto o = parse({"status", "--batch", "b1"});
    EXPECT_FALSE(o.command);
    EXPECT_NE(o.error.find("--batch"), std::string::npos);
    EXPECT_FALSE(parse({}).command);
    EXPECT_FALSE(parse({"batches", "--limit", "0"}).command);
    EXPECT_FALSE(parse({"batches", "--limit", "x"}).command);
    EXPECT_TRUE(parse({"batches", "--limit", "20", "--all", "--account", "shop"}).command);
}

TEST(CtlArgs, DoubleDashEndsOptions) {
    auto r = parse({"pause", "--", "--odd-batch"});
    ASSERT_TRUE(r.command) << r.error;
    EXPECT_EQ(r.command->positional, (std::vector<std::string>{"--odd-batch"}));
}

TEST(CtlArgs, HelpAndVersionNeedNoVerb) {
    EXPECT_TRUE(parse({"--help"}).command->help);
    EXPECT_TRUE(parse({"--version"}).command->version);
    EXPECT_FALSE(usage_text().empty());
}

TEST(CtlAdminAddress, ParsesTheThreeForms) {
    auto v4 = parse_admin_address("127.0.0.1:40123\n");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->type, listen_address::kind::tcp);
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 40123);
    auto v6 = parse_admin_address("[::1]:9464");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 9464);
    auto ux = parse_admin_address("unix:/run/msgflashd/admin.sock");
    ASSERT_TRUE(ux);
    EXPECT_EQ(ux->type, listen_address::kind::unix_socket);
    EXPECT_EQ(ux->path, "/run/msgflashd/admin.sock");
    for (std::string_view bad : {"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:9464",
                                 "unix:relative", "[::1]9464", "host:12x"}) {
        EXPECT_FALSE(parse_admin_address(bad)) << bad;
    }
}

TEST(CtlAdminAddress, PercentEncodesPathSegments) {
    EXPECT_EQ(percent_encode("black-friday_2026.v2~x"), "black-friday_2026.v2~x");
    EXPECT_EQ(percent_encode("a b/c?d%"), "a%20b%2Fc%3Fd%25");
    EXPECT_EQ(percent_encode("é"), "%C3%A9");
}

}  // namespace
}  // namespace msgflash::ctl
