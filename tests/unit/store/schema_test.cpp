// Schema creation, migration from the v1 placeholder, refusal of newer or foreign databases, and the
// connection settings DESIGN requires (WAL, synchronous=FULL, foreign keys, no mmap).
#include "store/schema.hpp"

#include "tests/unit/store/store_test_support.hpp"

namespace msgflash::store::test {
namespace {

std::vector<std::string> table_names(const std::filesystem::path& db) {
    connection c = raw_reader(db);
    statement s(c.get(), "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    std::vector<std::string> out;
    while (s.step()) {
        out.push_back(s.str(0));
    }
    return out;
}

TEST(StoreSchema, MigrationsAreNumberedInOrder) {
    const auto ms = migrations();
    ASSERT_EQ(ms.size(), static_cast<std::size_t>(current_schema_version));
    for (std::size_t i = 0; i < ms.size(); ++i) {
        EXPECT_EQ(ms[i].from, static_cast<int>(i));
        EXPECT_FALSE(ms[i].description.empty());
    }
}

TEST(StoreSchema, FreshDatabaseIsCreatedAtTheCurrentVersion) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    {
        auto s = open_store(options_for(db));
        ASSERT_NE(s, nullptr);
    }
    EXPECT_EQ(scalar(db, "SELECT max(version) FROM schema_version"), current_schema_version);
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM schema_version"), current_schema_version);  // one row per step
    EXPECT_EQ(scalar(db, "PRAGMA application_id"), queue_application_id);
    EXPECT_EQ(text_scalar(db, "PRAGMA journal_mode"), "wal");
    const std::vector<std::string> expected{"accounts",        "attempts",      "batch_counters", "batches",
                                            "campaign_stats",  "deliveries",    "holds",          "jobs",
                                            "number_counters", "schema_version"};
    EXPECT_EQ(table_names(db), expected);
    EXPECT_EQ(integrity(db), "ok");
}

TEST(StoreSchema, V1PlaceholderIsMigratedToCurrent) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    {
        // What the skeleton's placeholder left: schema_version alone, at version 1.
        connection c(db, connection::mode::read_write_create);
        c.exec(
            "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT "
            "NULL)");
        c.exec("INSERT INTO schema_version VALUES (1, 0)");
    }
    {
        auto s = open_store(options_for(db));
        ASSERT_NE(s, nullptr);
        // The migrated database works.
        ASSERT_TRUE(ingest_batch(*s, make_batch("b"), 3));
        EXPECT_EQ(claim(*s, "shop", 10).jobs.size(), 3u);
    }
    EXPECT_EQ(scalar(db, "SELECT max(version) FROM schema_version"), current_schema_version);
    EXPECT_EQ(scalar(db, "SELECT applied_at FROM schema_version WHERE version = 2"), to_millis(t0));
    EXPECT_EQ(integrity(db), "ok");
}

TEST(StoreSchema, MigrateStepByStep) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    connection c(db, connection::mode::read_write_create);
    EXPECT_EQ(read_schema_version(c), 0);
    migrate(c, 1, 1);
    EXPECT_EQ(read_schema_version(c), 1);
    migrate(c, 2, 2);
    EXPECT_EQ(read_schema_version(c), 2);
    migrate(c, 3, 3);
    EXPECT_EQ(read_schema_version(c), 3);
    migrate(c, 4, 4);
    EXPECT_EQ(read_schema_version(c), 4);
    migrate(c, 5);  // nothing to do
    EXPECT_EQ(read_schema_version(c), current_schema_version);
}

TEST(StoreSchema, V2AttemptsGainAnEmptySettledColumnThatOnlyTakesTheOutcomes) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    connection c(db, connection::mode::read_write_create);
    migrate(c, 1, 2);
    c.exec("PRAGMA foreign_keys = OFF");  // an attempt row alone is enough here
    c.exec(
        "INSERT INTO attempts(job_id, n, started_at, finished_at, outcome) VALUES (1, 1, 0, 0, 'ambiguous')");
    migrate(c, 2, 3);
    EXPECT_EQ(read_schema_version(c), 3);
    EXPECT_EQ(c.query_int("SELECT count(*) FROM attempts WHERE settled IS NULL"), 1);
    c.exec("UPDATE attempts SET settled = 'settled-found'");
    EXPECT_ANY_THROW(c.exec("UPDATE attempts SET settled = 'maybe'"));
}

TEST(StoreSchema, V3DeliveriesAreMessagesUntilACampaignsAndCampaignStatsStartEmpty) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    connection c(db, connection::mode::read_write_create);
    migrate(c, 1, 3);
    c.exec("PRAGMA foreign_keys = OFF");  // a delivery row alone is enough here
    c.exec("INSERT INTO deliveries(job_id, account_id, message_id) VALUES (1, 1, 'm-1')");
    migrate(c, 3);
    EXPECT_EQ(read_schema_version(c), 4);
    EXPECT_EQ(c.query_text("SELECT kind FROM deliveries"), "message");
    EXPECT_EQ(c.query_int("SELECT count(*) FROM campaign_stats"), 0);
    c.exec("UPDATE deliveries SET kind = 'campaign'");
    EXPECT_ANY_THROW(c.exec("UPDATE deliveries SET kind = 'letter'"));
}

TEST(StoreSchema, NewerDatabaseIsRefusedByTheWriterAndTheReader) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    { auto s = open_store(options_for(db)); }
    {
        connection c(db, connection::mode::read_write_create);
        c.exec("INSERT INTO schema_version VALUES (99, 0)");
    }
    auto w = queue_store::open(options_for(db));
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, make_error_code(store_errc::schema_too_new));
    EXPECT_NE(w.error().message().find("schema version 99"), std::string::npos) << w.error().message();
    auto r = queue_reader::open({.path = db});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::schema_too_new));
    // Refused, not touched.
    EXPECT_EQ(scalar(db, "SELECT max(version) FROM schema_version"), 99);
}

TEST(StoreSchema, ForeignDatabaseIsRefused) {
    temp_dir dir;
    const auto db = dir.path() / "other.db";
    {
        connection c(db, connection::mode::read_write_create);
        c.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY)");
    }
    auto w = queue_store::open(options_for(db));
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, make_error_code(store_errc::not_a_queue));

    const auto db2 = dir.path() / "other2.db";
    {
        connection c(db2, connection::mode::read_write_create);
        c.exec("PRAGMA application_id = 42");
    }
    auto w2 = queue_store::open(options_for(db2));
    ASSERT_FALSE(w2);
    EXPECT_EQ(w2.error().code, make_error_code(store_errc::not_a_queue));
}

TEST(StoreSchema, ReaderRefusesAnUnmigratedDatabase) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    {
        connection c(db, connection::mode::read_write_create);
        migrate(c, 0, 1);
    }
    auto r = queue_reader::open({.path = db});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(store_errc::schema_outdated));
}

TEST(StoreSchema, WriterConnectionSettings) {
    temp_dir dir;
    const auto db = dir.path() / "queue.db";
    auto s = open_store(options_for(db));
    ASSERT_NE(s, nullptr);
    auto pragmas = s->submit([](write_context& w) {
        auto q = [&](const char* sql) {
            statement st(w.handle(), sql);
            return st.step() ? st.str(0) : std::string();
        };
        return std::vector<std::string>{q("PRAGMA journal_mode"), q("PRAGMA synchronous"),
                                        q("PRAGMA foreign_keys"), q("PRAGMA mmap_size"),
                                        q("PRAGMA busy_timeout")};
    });
    ASSERT_TRUE(pragmas) << pragmas.error().message();
    EXPECT_EQ((*pragmas)[0], "wal");
    EXPECT_EQ((*pragmas)[1], "2");  // FULL
    EXPECT_EQ((*pragmas)[2], "1");
    EXPECT_EQ((*pragmas)[3], "0");
    EXPECT_EQ((*pragmas)[4], "5000");
}

}  // namespace
}  // namespace msgflash::store::test
