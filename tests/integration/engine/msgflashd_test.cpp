// The real msgflashd binary against msgflash-sim (in process) over loopback: batch files dropped in the
// spool over two keys end sent at the keys' pace with zero 429s; SIGTERM mid-run exits 0 within the grace and
// a restart finishes the rest with nothing lost and nothing sent twice; ambiguous closes are settled from the
// account's messages without a second send, and every sent message is reconciled to a final status.
#include "tests/integration/engine/msgflashd_fixture.hpp"

namespace msgflash::test {
namespace {

TEST_F(MsgflashdTest, SendsSpooledBatchesOverTwoKeysAtTheirPaceWithZero429s) {
    constexpr int per_account = 150;
    start_daemon();
    drop_batches(per_account);
    // 150 jobs per key at 10 req/s: about 15 s.
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 60s))
        << "sent " << counts().sent << " of " << 2 * per_account;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(stopped->first, 0);

    EXPECT_TRUE(fs::exists(dir_ / "spool" / "accepted" / "shop.json"));
    const auto c = counts();
    EXPECT_EQ(c.total, 2 * per_account);
    EXPECT_EQ(c.inflight + c.ready + c.waiting + c.held + c.failed + c.dead, 0);
    for (const std::string_view account : {"shop", "agency"}) {
        const auto stats = account_stats(account);
        EXPECT_EQ(stats.at("rateLimited").to_number<std::int64_t>(), 0) << account;
        EXPECT_EQ(stats.at("acceptedSends").to_number<std::int64_t>(), per_account) << account;
        EXPECT_EQ(stats.at("duplicates").to_number<std::int64_t>(), 0) << account;
        EXPECT_LE(stats.at("maxWindow").to_number<std::int64_t>(), 10) << account;
    }
}

TEST_F(MsgflashdTest, SigtermMidRunExitsWithinTheGraceAndARestartFinishesTheRest) {
    constexpr int per_account = 100;
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent >= 40; }, 30s));
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped) << "msgflashd did not exit after SIGTERM";
    EXPECT_EQ(stopped->first, 0);
    EXPECT_LE(stopped->second, shutdown_grace + 1s);

    const auto mid = counts();
    EXPECT_EQ(mid.inflight, 0) << "jobs left inflight after a clean shutdown";
    EXPECT_LT(mid.sent, 2 * per_account) << "the run finished before SIGTERM; nothing to test";
    EXPECT_EQ(mid.sent + mid.ready + mid.waiting, 2 * per_account);

    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 60s))
        << "sent " << counts().sent << " of " << 2 * per_account;
    const auto again = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->first, 0);
    for (const std::string_view account : {"shop", "agency"}) {
        const auto stats = account_stats(account);
        EXPECT_EQ(stats.at("acceptedSends").to_number<std::int64_t>(), per_account)
            << account << ": lost or sent twice";
        EXPECT_EQ(stats.at("duplicates").to_number<std::int64_t>(), 0) << account;
        EXPECT_EQ(stats.at("rateLimited").to_number<std::int64_t>(), 0) << account;
    }
}

// SIGKILL mid-run: the claimed jobs are left inflight, some with their requests answered or on the wire. The
// restart records them as ambiguous (crash-recovery) and asks the account's messages about each before its
// next send: nothing is sent twice, nothing is lost, every such attempt is settled.
TEST_F(MsgflashdTest, ASigkillMidRunIsSettledFromTheAccountsMessagesWithNothingSentTwice) {
    constexpr int per_account = 100;
    // Answers 300-500 ms after the simulator took the message: at 10 sends/s a few are on the wire at the
    // kill.
    ASSERT_EQ(sim_.client().post("/_sim/faults", R"({"latency_min":"300ms","latency_max":"500ms"})").status,
              200u);
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent >= 40; }, 30s));
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
    const auto mid = counts();
    EXPECT_GT(mid.inflight, 0) << "nothing was inflight at the kill: the test tests nothing";
    EXPECT_LT(mid.sent, 2 * per_account) << "the run finished before the kill; nothing to test";

    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 90s))
        << "sent " << counts().sent << " of " << 2 * per_account;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    store::connection db_read(db(), store::connection::mode::read_only);
    const std::int64_t crashed =
        db_read.query_int("SELECT count(*) FROM attempts WHERE outcome = 'crash-recovery'");
    EXPECT_EQ(crashed, mid.inflight);
    EXPECT_EQ(
        db_read.query_int("SELECT count(*) FROM attempts WHERE outcome = 'crash-recovery' AND settled IN "
                          "('settled-found', 'settled-not-found')"),
        crashed)
        << "a crash-left attempt was not settled";
    for (const std::string_view account : {"shop", "agency"}) {
        const auto stats = account_stats(account);
        EXPECT_EQ(stats.at("acceptedSends").to_number<std::int64_t>(), per_account)
            << account << ": lost or sent twice";
        EXPECT_EQ(stats.at("duplicates").to_number<std::int64_t>(), 0) << account;
        EXPECT_EQ(stats.at("rateLimited").to_number<std::int64_t>(), 0) << account;
    }
    const std::int64_t found =
        db_read.query_int("SELECT count(*) FROM attempts WHERE settled = 'settled-found'");
    EXPECT_GT(found, 0) << "no request was on the wire at the kill: the found path went untested";
    std::cout << "inflight at the kill: " << mid.inflight << ", found sent: " << found << "\n";
}

TEST_F(MsgflashdTest, ANumbersDailyCapHoldsAcrossARestart) {
    // Each account's number may send 6 messages a day: the store's counters must carry the 6 already sent
    // over a restart, so the second process sends nothing more today.
    constexpr int per_day = 6;
    write_config(
        fmt::format("[[instances]]\nid = \"{}\"\nper_day = {}\n[[instances]]\nid = \"{}\"\nper_day = {}\n",
                    shop_number, per_day, agency_number, per_day));
    ingest(20);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_day; }, 30s)) << "sent " << counts().sent;
    ASSERT_TRUE(terminate(shutdown_grace + 5s));
    // The jobs over the cap wait for the next UTC day in the queue; new ones arrive ready (a file per
    // account in the spool), and only the counters can keep the next process from sending them today.
    drop_batches(10);

    start_daemon();
    ASSERT_TRUE(wait_for(
        [&] {
            const auto c = counts();
            return c.sent + c.inflight + c.ready + c.waiting == 2 * (20 + 10);
        },
        30s))
        << "the new files were not ingested";
    // At 10 requests/s a key would send ten jobs a second: three seconds with nothing more sent.
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {
        ASSERT_EQ(counts().sent, 2 * per_day) << "a number went past its daily cap after the restart";
        std::this_thread::sleep_for(poll_interval);
    }
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    for (const std::string_view account : {"shop", "agency"}) {
        EXPECT_EQ(account_stats(account).at("acceptedSends").to_number<std::int64_t>(), per_day) << account;
    }
    const auto c = counts();
    EXPECT_EQ(c.waiting + c.ready, 2 * (20 + 10 - per_day)) << "the jobs over the cap must wait, not fail";
}

TEST_F(MsgflashdTest, ADisconnectedNumberGetsNothingAndItsJobsGoWhenItIsBack) {
    constexpr int per_account = 80;
    write_config({}, "instance_poll_interval = \"2s\"");
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(
        wait_for([&] { return account_stats("shop").at("acceptedSends").to_number<int>() >= 10; }, 30s));

    auto control = sim_.client();
    const std::string target = fmt::format("/_sim/instances/{}", shop_number);
    ASSERT_EQ(control.post(target, R"({"status":"disconnected"})").status, 200u);
    // Within a poll interval (and sooner, after the first 502) the daemon knows; from then on the key's
    // requests are its polls only (one every 2 s), while the other account goes on sending.
    std::this_thread::sleep_for(4s);  // the daemon's reaction time under test, not a synchronisation
    const auto requests = [&](std::string_view a) {
        return account_stats(a).at("requests").to_number<int>();
    };
    const int shop_before = requests("shop");
    const int agency_before = requests("agency");
    std::this_thread::sleep_for(3s);
    EXPECT_LE(requests("shop") - shop_before, 3) << "the daemon kept sending to a disconnected number";
    EXPECT_GE(requests("agency") - agency_before, 10) << "the other account's number stopped too";
    EXPECT_GT(counts().held, 0) << "the disconnected number's jobs were not held";

    ASSERT_EQ(control.post(target, R"({"status":"connected"})").status, 200u);
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 60s)) << "sent " << counts().sent;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    const auto c = counts();
    EXPECT_EQ(c.failed + c.dead, 0);
    for (const std::string_view account : {"shop", "agency"}) {
        EXPECT_EQ(account_stats(account).at("acceptedSends").to_number<int>(), per_account) << account;
        EXPECT_EQ(account_stats(account).at("duplicates").to_number<int>(), 0) << account;
        EXPECT_EQ(account_stats(account).at("rateLimited").to_number<int>(), 0) << account;
    }
    // Only the sends that met the 502s before the daemon knew used an attempt: about a poll's worth.
    store::connection db_read(db(), store::connection::mode::read_only);
    const std::int64_t retried = db_read.query_int("SELECT count(*) FROM jobs WHERE attempts > 1");
    EXPECT_LE(retried, 30) << "jobs kept using attempts on a disconnected number";
    std::cout << "jobs that met a 502 before the daemon knew the number was down: " << retried << "\n";
}

TEST_F(MsgflashdTest, ProviderErrorsAndAmbiguousClosesEndEveryJobSentWithZero429s) {
    // 20 % of sends answered 502 PROVIDER_* (not processed) and 1 % accepted, then closed unanswered.
    constexpr int per_account = 100;
    write_config("[retry]\nbase = \"200ms\"\ncap = \"2s\"\n");
    ASSERT_EQ(sim_.client()
                  .post("/_sim/faults", R"({"provider_timeout":0.07,"provider_unavailable":0.07,)"
                                        R"("provider_error":0.06,"ambiguous":0.01,"seed":5})")
                  .status,
              200u);
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 90s)) << "sent " << counts().sent;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    const auto c = counts();
    EXPECT_EQ(c.failed + c.dead + c.held + c.ready + c.waiting + c.inflight, 0);

    store::connection db_read(db(), store::connection::mode::read_only);
    const std::int64_t flagged = db_read.query_int("SELECT count(*) FROM jobs WHERE ambiguous = 1");
    const std::int64_t retried = db_read.query_int("SELECT count(*) FROM jobs WHERE attempts > 1");
    std::int64_t duplicates = 0;
    for (const std::string_view account : {"shop", "agency"}) {
        const auto stats = account_stats(account);
        EXPECT_EQ(stats.at("rateLimited").to_number<int>(), 0) << account;
        EXPECT_LE(stats.at("maxWindow").to_number<int>(), 10) << account;
        const auto d = stats.at("duplicates").to_number<std::int64_t>();
        // Every job accepted once, and again only where an ambiguous close made the daemon send it again.
        EXPECT_EQ(stats.at("acceptedSends").to_number<std::int64_t>() - d, per_account) << account;
        duplicates += d;
    }
    EXPECT_LE(duplicates, flagged) << "a message was sent twice without the ambiguous flag on its job";
    EXPECT_GE(retried, 2 * per_account / 10) << "the faults did not happen: the test tests nothing";
    std::cout << "jobs retried: " << retried << ", flagged ambiguous: " << flagged
              << ", duplicates the simulator saw: " << duplicates << "\n";
}

TEST_F(MsgflashdTest, JobsOfAHeldKeyExpireAtTheirBatchsExpiresAt) {
    // A revoked key is held after its first 401: nothing claims its jobs any more, yet past the batch's
    // expiresAt they must end `expired` (the store's upkeep), not sit held for ever.
    ASSERT_EQ(sim_.client().post("/_sim/accounts/shop", R"({"revoked":true})").status, 200u);
    ASSERT_EQ(sim_.client().post("/_sim/accounts/agency", R"({"revoked":true})").status, 200u);
    constexpr int per_account = 20;
    const timestamp expires = wall_now() + 4s;
    ingest(per_account, expires);
    start_daemon();
    const auto in = [&](std::string_view state) {
        store::connection db_read(db(), store::connection::mode::read_only);
        store::statement st(db_read.get(), "SELECT count(*) FROM jobs WHERE state = ?1");
        st.bind(1, state);
        st.step();
        return st.int64(0);
    };
    ASSERT_TRUE(wait_for([&] { return in("held") > 0; }, 20s)) << "the revoked keys were not held";
    EXPECT_LT(wall_now(), expires) << "too slow to see the jobs held before they expire";
    ASSERT_TRUE(wait_for([&] { return in("expired") == 2 * per_account; }, 30s))
        << in("expired") << " expired, " << in("held") << " held";
    EXPECT_GE(wall_now(), expires);
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    for (const std::string_view account : {"shop", "agency"}) {
        EXPECT_EQ(account_stats(account).at("acceptedSends").to_number<int>(), 0) << account;
    }
}

TEST_F(MsgflashdTest, ARevokedKeyIsHeldWithoutAttemptsAndSighupResumesIt) {
    constexpr int per_account = 30;
    ASSERT_EQ(sim_.client().post("/_sim/accounts/shop", R"({"revoked":true})").status, 200u);
    ingest(per_account);
    start_daemon();
    const auto stat = [&](std::string_view account, std::string_view name) {
        return account_stats(account).at(name).to_number<int>();
    };
    ASSERT_TRUE(wait_for([&] { return stat("agency", "acceptedSends") == per_account; }, 30s))
        << "the other account's key did not go on";
    const int refused = stat("shop", "unauthorized");
    EXPECT_GE(refused, 1);
    EXPECT_LE(refused, 3) << "the key was not held at its first 401s";
    EXPECT_EQ(stat("shop", "acceptedSends"), 0);
    std::this_thread::sleep_for(2s);  // a held key sends nothing: twenty sends' worth of time
    EXPECT_EQ(stat("shop", "unauthorized"), refused) << "a held key kept sending";

    const auto logged = [&](std::string_view what) {
        return slurp(dir_ / "msgflashd.log").find(what) != std::string::npos;
    };
    // A broken configuration on SIGHUP is refused and the daemon goes on with the running one.
    std::ofstream(dir_ / "msgflashd.toml", std::ios::app) << "[api\n";
    ASSERT_EQ(::kill(pid_, SIGHUP), 0);
    ASSERT_TRUE(wait_for([&] { return logged("the running configuration stays"); }, 10s));
    EXPECT_EQ(::waitpid(pid_, nullptr, WNOHANG), 0) << "msgflashd exited on a bad reload";

    // The operator fixes the key and the file, and reloads.
    write_config();
    ASSERT_EQ(sim_.client().post("/_sim/accounts/shop", R"({"revoked":false})").status, 200u);
    ASSERT_EQ(::kill(pid_, SIGHUP), 0);
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 30s)) << "sent " << counts().sent;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    EXPECT_EQ(stat("shop", "acceptedSends"), per_account);
    store::connection db_read(db(), store::connection::mode::read_only);
    EXPECT_EQ(db_read.query_int("SELECT count(*) FROM jobs WHERE attempts > 1"), 0)
        << "the 401s used attempts";
    EXPECT_TRUE(logged("SIGHUP: account shop: key hold lifted"));
}

TEST_F(MsgflashdTest, AnExhaustedMonthlyQuotaHoldsTheKeyUntilTheNextBillingPeriod) {
    // Twelve requests left this month for shop: its polls and first sends use them, then every request gets
    // 429 MONTHLY_API_REQUEST_QUOTA_EXCEEDED. The key must be held (no attempt used, nothing more sent)
    // while the other account goes on.
    constexpr int per_account = 30;
    ASSERT_EQ(sim_.client().post("/_sim/accounts/shop", R"({"monthly_quota":12})").status, 200u);
    ingest(per_account);
    start_daemon();
    const auto stat = [&](std::string_view account, std::string_view name) {
        return account_stats(account).at(name).to_number<int>();
    };
    store::connection db_read(db(), store::connection::mode::read_only);
    const auto quota_holds = [&] {
        return db_read.query_int(
            "SELECT count(*) FROM holds WHERE scope = 'key' AND subject = 'shop' AND cause = 'quota' "
            "AND released_at IS NULL");
    };
    ASSERT_TRUE(
        wait_for([&] { return stat("agency", "acceptedSends") == per_account && quota_holds() == 1; }, 30s))
        << "agency sent " << stat("agency", "acceptedSends") << ", quota holds " << quota_holds();
    const int requests = stat("shop", "requests");
    std::this_thread::sleep_for(2s);  // a held key sends nothing: twenty sends' worth of time
    EXPECT_LE(stat("shop", "requests") - requests, 0) << "a key held for its quota kept sending";
    EXPECT_LE(stat("shop", "acceptedSends"), 12);
    EXPECT_GE(stat("shop", "acceptedSends"), 1);
    // Held until the first instant of the next month (UTC), when the quota comes back.
    using namespace std::chrono;
    const year_month_day today{floor<days>(system_clock::now())};
    const sys_days next_month{(year_month{today.year(), today.month()} + months{1}) / 1};
    EXPECT_EQ(db_read.query_int("SELECT until FROM holds WHERE subject = 'shop' AND cause = 'quota'"),
              duration_cast<milliseconds>(next_month.time_since_epoch()).count());
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    const auto c = counts();
    EXPECT_EQ(c.failed + c.dead + c.inflight, 0);
    EXPECT_EQ(c.sent + c.ready + c.waiting + c.held, 2 * per_account) << "a job was lost";
    EXPECT_EQ(db_read.query_int("SELECT count(*) FROM jobs WHERE attempts > 1"), 0)
        << "the quota's 429s used attempts";
}

TEST_F(MsgflashdTest, ATemplateBatchIsPreviewedFirstAndOneWhoseTemplateIsRefusedIsHeldWithoutASend) {
    constexpr int per_account = 20;
    ingest(per_account, std::nullopt, std::pair{shop_template, agency_template});
    start_daemon();
    store::connection db_read(db(), store::connection::mode::read_only);
    const auto held_batch = [&] {
        return db_read.query_int(
            "SELECT count(*) FROM holds WHERE scope = 'batch' AND subject = 'agency-batch' AND cause = "
            "'template-preview' AND reason_code = 'TEMPLATE_INVALID' AND released_at IS NULL");
    };
    const auto agency_held = [&] {
        return db_read.query_int(
            "SELECT count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = 'agency-batch' "
            "AND j.state = 'held'");
    };
    ASSERT_TRUE(wait_for([&] { return counts().sent == per_account && agency_held() == per_account; }, 30s))
        << "sent " << counts().sent << ", agency jobs held " << agency_held();
    EXPECT_EQ(held_batch(), 1);
    EXPECT_EQ(db_read.query_text("SELECT state FROM batches WHERE name = 'agency-batch'"), "held");
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    EXPECT_EQ(account_stats("shop").at("acceptedSends").to_number<int>(), per_account);
    EXPECT_EQ(account_stats("agency").at("acceptedSends").to_number<int>(), 0);
    EXPECT_EQ(
        db_read.query_int("SELECT count(*) FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b "
                          "ON b.id = j.batch_id WHERE b.name = 'agency-batch'"),
        0)
        << "a broken template's batch used attempts";
    // The sim rendered shop's template with each recipient's variable.
    const auto messages = sim_.client().get("/_sim/messages?account=shop");
    EXPECT_NE(messages.body.find("Hi customer 0"), std::string::npos) << messages.body;
}

// The admin endpoint of the running daemon (docs/admin-api.md): found through admin.address, /healthz and
// /readyz, a scrape that promtool accepts, and control calls refused without the token and carried out with
// it.
TEST_F(MsgflashdTest, TheAdminEndpointServesHealthMetricsAndTokenGuardedControl) {
    constexpr int per_account = 20;
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 30s)) << "sent " << counts().sent;
    std::string address;
    ASSERT_TRUE(wait_for(
        [&] { return std::getline(std::ifstream(dir_ / "admin.address") >> std::ws, address).good(); }, 10s));
    ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;
    test::client_options admin_options;
    admin_options.port = static_cast<std::uint16_t>(std::stoi(address.substr(10)));
    test::http_client admin(admin_options);
    EXPECT_EQ(admin.get("/healthz").status, 200u);
    const auto ready = admin.get("/readyz");
    EXPECT_EQ(ready.status, 200u) << ready.body;

    const auto scrape = admin.get("/metrics");
    ASSERT_EQ(scrape.status, 200u);
    EXPECT_TRUE(scrape.header("Content-Type").starts_with("text/plain; version=0.0.4"));
    EXPECT_NE(scrape.body.find("msgflash_jobs{account=\"shop\",state=\"sent\"} 20"), std::string::npos)
        << scrape.body;
    EXPECT_NE(scrape.body.find("msgflash_sends_total{outcome=\"sent\"} 40"), std::string::npos);
    EXPECT_NE(scrape.body.find("msgflash_pace_requests_per_second{account=\"agency\"}"), std::string::npos);
    EXPECT_EQ(scrape.body.find("FAKE"), std::string::npos) << "a key in the metrics";
    {
        const fs::path file = dir_ / "scrape.prom";
        std::ofstream(file) << scrape.body;
        const std::string cmd = fmt::format("promtool check metrics < {} > {} 2>&1", file.string(),
                                            (dir_ / "promtool.out").string());
        const int rc = std::system(cmd.c_str());
        EXPECT_EQ(rc, 0) << "promtool check metrics (Debian package prometheus, scripts/install-deps):\n"
                         << slurp(dir_ / "promtool.out");
    }

    // Control: the token, from the state directory, or 401.
    std::string token;
    std::getline(std::ifstream(dir_ / "admin.token"), token);
    ASSERT_EQ(token.size(), 64u);
    EXPECT_EQ(fs::status(dir_ / "admin.token").permissions() & fs::perms::others_all, fs::perms::none);
    const test::header_map bearer{{"Authorization", "Bearer " + token}};
    EXPECT_EQ(admin.post("/control/batches/shop-batch/pause", "").status, 401u);
    EXPECT_EQ(admin.post("/control/batches/shop-batch/pause", "", {{"Authorization", "Bearer wrong"}}).status,
              401u);
    const auto paused = admin.post("/control/batches/shop-batch/pause", "", bearer);
    EXPECT_EQ(paused.status, 200u) << paused.body;
    EXPECT_NE(paused.body.find("\"state\":\"paused\""), std::string::npos) << paused.body;
    const auto resumed = admin.post("/control/batches/shop-batch/resume", "", bearer);
    EXPECT_EQ(resumed.status, 200u) << resumed.body;
    EXPECT_NE(resumed.body.find("\"state\":\"active\""), std::string::npos) << resumed.body;
    EXPECT_EQ(admin.post("/control/batches/no-such-batch/pause", "", bearer).status, 404u);
    EXPECT_EQ(admin.post("/control/accounts/nobody/resume", "", bearer).status, 404u);
    const auto account = admin.post("/control/accounts/shop/resume", "", bearer);
    EXPECT_EQ(account.status, 200u) << account.body;
    EXPECT_NE(account.body.find("\"was_held\":false"), std::string::npos) << account.body;
    EXPECT_EQ(admin.get("/control/retry-dead").status, 405u);

    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    EXPECT_FALSE(fs::exists(dir_ / "admin.address")) << "a clean exit leaves no stale address";
}

TEST_F(MsgflashdTest, ReadyzSaysStartingUntilTheQueueIsRecoveredAndTheSpoolWatched) {
    ingest(5);
    // Another writer holds the queue: the daemon's recovery waits for it (busy timeout), its admin endpoint
    // already answers.
    store::connection blocker(db(), store::connection::mode::read_write_create);
    blocker.exec("BEGIN EXCLUSIVE");
    start_daemon();
    std::string address;
    ASSERT_TRUE(wait_for(
        [&] { return std::getline(std::ifstream(dir_ / "admin.address") >> std::ws, address).good(); }, 10s));
    test::client_options admin_options;
    admin_options.port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    test::http_client admin(admin_options);
    EXPECT_EQ(admin.get("/healthz").status, 200u);
    const auto starting = admin.get("/readyz");
    EXPECT_EQ(starting.status, 503u) << starting.body;
    EXPECT_NE(admin.get("/metrics").body.find("msgflash_ready 0"), std::string::npos);
    std::string token;
    std::getline(std::ifstream(dir_ / "admin.token"), token);
    EXPECT_EQ(admin.post("/control/retry-dead", "", {{"Authorization", "Bearer " + token}}).status, 503u);

    blocker.exec("COMMIT");
    blocker.close();
    ASSERT_TRUE(wait_for([&] { return admin.get("/readyz").status == 200u; }, 10s));
    EXPECT_NE(admin.get("/metrics").body.find("msgflash_ready 1"), std::string::npos);
    ASSERT_TRUE(wait_for([&] { return counts().sent == 10; }, 30s)) << "sent " << counts().sent;
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
}

// msgflashctl against the real daemon: reads from the queue, changes through the admin endpoint it finds in
// admin.address with the token of admin.token.
TEST_F(MsgflashdTest, MsgflashctlPausesResumesAndReadsTheRunningDaemon) {
    constexpr int per_account = 60;
    ingest(per_account);
    write_config({}, "instance_poll_interval = \"60s\"");
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return fs::exists(dir_ / "admin.address") && counts().sent >= 4; }, 20s));
    const auto ctl = [&](const std::string& args, std::string* out = nullptr) { return run_ctl(args, out); };
    std::string out;
    ASSERT_EQ(ctl("pause shop-batch", &out), 0) << out;
    const auto shop_held = [&] {
        store::connection db_read(db(), store::connection::mode::read_only);
        return db_read.query_int(
            "SELECT count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = 'shop-batch' AND "
            "j.state = 'held'");
    };
    ASSERT_TRUE(wait_for([&] { return shop_held() > 0; }, 10s));
    const int shop_sent = account_stats("shop").at("acceptedSends").to_number<int>();
    std::this_thread::sleep_for(1s);  // a paused batch sends nothing: ten sends' worth of time
    EXPECT_LE(account_stats("shop").at("acceptedSends").to_number<int>() - shop_sent, 2)
        << "a paused batch kept sending (beyond its requests in flight)";
    EXPECT_EQ(ctl("status", &out), 0) << out;
    EXPECT_NE(out.find("shop"), std::string::npos) << out;
    EXPECT_EQ(ctl("--json batches", &out), 0) << out;
    EXPECT_NE(out.find("shop-batch"), std::string::npos) << out;
    EXPECT_EQ(ctl("pause no-such-batch", &out), 1) << out;

    EXPECT_EQ(ctl("frobnicate", &out), 2) << out;
    ASSERT_EQ(ctl("resume shop-batch", &out), 0) << out;
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 40s)) << "sent " << counts().sent;
    // A campaign file of agency's (SPEC §3): the daemon creates the campaign (POST /campaigns) and keeps its
    // id as the job's message id; then it is paused and resumed through the daemon, which finds whose key
    // knows it (once the batches are sent: the test's own calls with the key must not crowd the daemon's).
    const fs::path incoming = dir_ / "spool" / "incoming";
    std::ofstream(incoming / ".spring.campaign.json") << fmt::format(
        R"({{"account":"agency","batch":"spring","instanceId":"{}","name":"spring",)"
        R"("schedule":"2030-01-01T09:00:00+01:00","recipients":{{"type":"explicit","value":["+33600000001"]}},)"
        R"("type":"text","body":"Hi"}})",
        agency_number);
    fs::rename(incoming / ".spring.campaign.json", incoming / "spring.campaign.json");
    store::connection db_read(db(), store::connection::mode::read_only);
    const auto campaign_id = [&] {
        return db_read.query_text(
            "SELECT coalesce((SELECT j.message_id FROM jobs j JOIN batches b ON b.id = j.batch_id "
            "WHERE b.name = 'spring' AND j.state = 'sent'), '')");
    };
    ASSERT_TRUE(wait_for([&] { return !campaign_id().empty(); }, 20s))
        << "the campaign job was not sent: "
        << (std::stringstream()
            << std::ifstream(dir_ / "spool" / "rejected" / "spring.campaign.json.error.json").rdbuf())
               .str();
    const std::string campaign = campaign_id();
    EXPECT_EQ(
        db_read.query_int("SELECT count(*) FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b "
                          "ON b.id = j.batch_id WHERE b.name = 'spring'"),
        1);
    EXPECT_EQ(ctl("campaign pause " + campaign, &out), 0) << out;
    const auto state = [&] {
        const auto got =
            sim_.client().get("/api/v1/campaigns/" + campaign, {{"x-api-key", "msgf_live_FAKE_agency_key"}});
        return std::string(json::parse(got.body).at("data").at("status").as_string());
    };
    EXPECT_EQ(state(), "paused");
    EXPECT_EQ(ctl("campaign resume " + campaign, &out), 0) << out;
    EXPECT_EQ(state(), "scheduled");
    EXPECT_EQ(ctl("campaign pause 00000000-0000-4000-8000-000000000000", &out), 1) << out;
    EXPECT_EQ(ctl("export shop-batch", &out), 0);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), per_account + 1) << out.substr(0, 500);
    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    EXPECT_EQ(account_stats("shop").at("duplicates").to_number<int>(), 0);
}

// The world of the reconciliation test: statuses step every 500 ms, and one message in ten ends failed.
class MsgflashdReconcileTest : public MsgflashdTest {
  protected:
    MsgflashdReconcileTest() : MsgflashdTest(reconcile_world()) {}
    static std::string_view reconcile_world() {
        static const std::string world =
            std::string(world_toml) + "\n[delivery]\nstep = \"500ms\"\nfailed_share = 0.1\n";
        return world;
    }
};

TEST_F(MsgflashdReconcileTest, AmbiguousClosesAreSettledWithoutASecondSendAndEveryMessageIsReconciled) {
    // 5 % of sends are accepted by the simulator, then closed unanswered: each must be found in the account's
    // messages (no second POST), and every sent message must reach delivered, read or failed in the store.
    constexpr int per_account = 100;
    write_config("[retry]\nbase = \"200ms\"\ncap = \"2s\"\n");
    ASSERT_EQ(sim_.client().post("/_sim/faults", R"({"ambiguous":0.05,"seed":11})").status, 200u);
    ingest(per_account);
    start_daemon();
    ASSERT_TRUE(wait_for([&] { return counts().sent == 2 * per_account; }, 90s)) << "sent " << counts().sent;
    // The operator asks for it now: every delivery not settled yet is due at once.
    std::string out;
    EXPECT_EQ(run_ctl("reconcile", &out), 0) << out;
    EXPECT_NE(out.find("reconcile every batch: ok, queued="), std::string::npos) << out;
    EXPECT_EQ(run_ctl("reconcile no-such-batch", &out), 1) << out;
    EXPECT_NE(out.find("404 NOT_FOUND"), std::string::npos) << out;
    const auto query = [&](const char* sql) {
        store::connection db_read(db(), store::connection::mode::read_only);
        return db_read.query_int(sql);
    };
    ASSERT_TRUE(wait_for(
        [&] { return query("SELECT count(*) FROM deliveries WHERE settled IS NOT NULL") == 2 * per_account; },
        120s))
        << query("SELECT count(*) FROM deliveries WHERE settled IS NULL") << " deliveries not settled";

    // The admin endpoint's view of it, while the daemon runs: nothing left to reconcile; reconcile now
    // answers how many it made due (none: all are settled).
    std::string address;
    ASSERT_TRUE(wait_for(
        [&] { return std::getline(std::ifstream(dir_ / "admin.address") >> std::ws, address).good(); }, 10s));
    test::client_options admin_options;
    admin_options.port = static_cast<std::uint16_t>(std::stoi(address.substr(10)));
    test::http_client admin(admin_options);
    const auto scrape = admin.get("/metrics");
    ASSERT_EQ(scrape.status, 200u);
    EXPECT_NE(scrape.body.find("msgflash_reconcile_backlog"), std::string::npos) << scrape.body;
    EXPECT_NE(scrape.body.find("msgflash_ambiguous_settled_total{outcome=\"unresolved\"} 0"),
              std::string::npos)
        << scrape.body;
    EXPECT_NE(scrape.body.find("msgflash_reconcile_due{account=\"shop\"} 0"), std::string::npos)
        << scrape.body;
    std::string token;
    std::getline(std::ifstream(dir_ / "admin.token"), token);
    const test::header_map bearer{{"Authorization", "Bearer " + token}};
    const auto again = admin.post("/control/reconcile?batch=shop-batch", "", bearer);
    EXPECT_EQ(again.status, 200u) << again.body;
    EXPECT_NE(again.body.find("\"queued\":0"), std::string::npos) << again.body;
    EXPECT_EQ(admin.post("/control/reconcile?batch=no-such-batch", "", bearer).status, 404u);

    const auto stopped = terminate(shutdown_grace + 5s);
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->first, 0);
    const auto c = counts();
    EXPECT_EQ(c.failed + c.dead + c.held + c.ready + c.waiting + c.inflight, 0);

    const std::int64_t ambiguous = query("SELECT count(*) FROM attempts WHERE ambiguous = 1");
    const std::int64_t found =
        query("SELECT count(*) FROM attempts WHERE ambiguous = 1 AND settled = 'settled-found'");
    EXPECT_GE(ambiguous, 3) << "the faults did not happen: the test tests nothing";
    EXPECT_EQ(found, ambiguous) << "an ambiguous attempt was not settled as sent";
    EXPECT_EQ(query("SELECT count(*) FROM attempts WHERE outcome = 'sent' OR outcome = 'ambiguous'"),
              2 * per_account)
        << "a job was attempted again after its message had gone";
    EXPECT_EQ(query("SELECT count(*) FROM deliveries"), 2 * per_account);
    EXPECT_EQ(query("SELECT count(*) FROM deliveries WHERE settled IN ('delivered', 'read', 'failed') AND "
                    "status = settled AND status_at IS NOT NULL"),
              2 * per_account);
    const std::int64_t failed = query("SELECT count(*) FROM deliveries WHERE settled = 'failed'");
    EXPECT_GT(failed, 0) << "failed_share 0.1 of 200 messages";
    EXPECT_LT(failed, 2 * per_account / 2);
    for (const std::string_view account : {"shop", "agency"}) {
        const auto stats = account_stats(account);
        EXPECT_EQ(stats.at("duplicates").to_number<std::int64_t>(), 0) << account;
        EXPECT_EQ(stats.at("acceptedSends").to_number<std::int64_t>(), per_account) << account;
        EXPECT_EQ(stats.at("rateLimited").to_number<std::int64_t>(), 0) << account;
        EXPECT_LE(stats.at("maxWindow").to_number<std::int64_t>(), 10) << account;
    }
    std::cout << "ambiguous attempts: " << ambiguous << ", settled found: " << found
              << ", deliveries failed: " << failed << "\n";
}

}  // namespace
}  // namespace msgflash::test
