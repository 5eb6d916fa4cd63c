// config/msgflashd.toml, the file we ship: it must parse, and its values must be the true defaults.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "config/config.hpp"

namespace msgflash {
namespace {

std::filesystem::path shipped_config() {
    // CTest sets MSGFLASH_SOURCE_DIR; running the binary by hand falls back to this file's location.
    const char* dir = std::getenv("MSGFLASH_SOURCE_DIR");  // NOLINT(concurrency-mt-unsafe)
    const std::filesystem::path root = dir != nullptr
                                           ? std::filesystem::path(dir)
                                           : std::filesystem::path(__FILE__).parent_path() / "../../..";
    return (root / "config/msgflashd.toml").lexically_normal();
}

TEST(ShippedConfig, ParsesWithoutErrorsOrWarnings) {
    const auto r = load_config(shipped_config());
    for (const auto& e : r.errors) {
        ADD_FAILURE() << e.to_string();
    }
    for (const auto& w : r.warnings) {
        ADD_FAILURE() << "warning: " << w.to_string();
    }
    ASSERT_TRUE(r.ok());
}

TEST(ShippedConfig, DocumentsTheTrueDefaults) {
    const auto r = load_config(shipped_config());
    ASSERT_TRUE(r.ok());
    const config& c = *r.value;
    const config defaults;
    EXPECT_EQ(c.shutdown_grace, defaults.shutdown_grace);
    EXPECT_TRUE(c.api == defaults.api);
    EXPECT_TRUE(c.spool == defaults.spool);
    EXPECT_TRUE(c.queue == defaults.queue);
    EXPECT_TRUE(c.retry == defaults.retry);
    EXPECT_TRUE(c.pacing == defaults.pacing);
    EXPECT_TRUE(c.reconcile == defaults.reconcile);
    EXPECT_TRUE(c.reports == defaults.reports);
    EXPECT_TRUE(c.admin == defaults.admin);
    EXPECT_TRUE(c.log == defaults.log);
}

TEST(ShippedConfig, ExampleAccountAndInstance) {
    const auto r = load_config(shipped_config());
    ASSERT_TRUE(r.ok());
    const config& c = *r.value;
    ASSERT_EQ(c.accounts.size(), 1u);
    EXPECT_EQ(c.accounts[0].name, "shop");
    // The key comes from the systemd credential "shop" (LoadCredential= in systemd/msgflashd.service).
    EXPECT_TRUE(c.accounts[0].key_env.empty());
    EXPECT_TRUE(c.accounts[0].key_file.empty());
    EXPECT_EQ(c.accounts[0].rate, documented_rate_per_key);
    ASSERT_EQ(c.instances.size(), 1u);
    EXPECT_EQ(c.instances[0].account, "shop");
    EXPECT_TRUE(c.instances[0].per_minute && c.instances[0].per_hour && c.instances[0].per_day &&
                c.instances[0].min_interval);
}

}  // namespace
}  // namespace msgflash
