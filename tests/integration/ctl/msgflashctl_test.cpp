// msgflashctl, the real binary, verb by verb: status, batches, jobs, export and watch on a queue built with
// the store API; validate and submit on good and bad files; the control verbs against a small admin endpoint
// in this test (loopback, port 0, admin.address and admin.token in the state dir) that checks the method,
// the path and the Bearer token and answers as docs/admin-api.md says.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "daemon/ctl_format.hpp"
#include "report/csv.hpp"
#include "report/report_format.hpp"
#include "store/ingest.hpp"
#include "store/queue_ops.hpp"
#include "store/queue_store.hpp"
#include "tests/support/process.hpp"

namespace msgflash::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::string_view shop_number = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
constexpr std::string_view hostile_ref = "x,\"y\" z";
// How often the test looks at a running msgflashctl (a poll bounded by a deadline).
constexpr auto poll_interval = 20ms;
// A token that looks like admin.token's (hex), not like an API key.
constexpr std::string_view admin_token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

timestamp wall_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

struct admin_request {
    std::string method;
    std::string target;
    std::string authorization;
};
using admin_answer_fn = std::function<std::pair<unsigned, std::string>(const admin_request&)>;

// The in-test admin endpoint over TCP loopback or a unix socket: one request per connection, each recorded,
// answered by `answer`.
template <typename Protocol>
class basic_admin_server {
  public:
    using request = admin_request;
    using answer_fn = admin_answer_fn;

    basic_admin_server(answer_fn answer, typename Protocol::endpoint at)
        : answer_(std::move(answer)), acceptor_(io_, at) {
        thread_ = std::thread([this] { serve(); });
    }
    ~basic_admin_server() {
        stop_ = true;
        boost::system::error_code ec;
        typename Protocol::socket poke(io_);
        poke.connect(acceptor_.local_endpoint(), ec);  // wakes the blocking accept
        thread_.join();
    }
    std::uint16_t local_port() const requires std::is_same_v<Protocol, asio::ip::tcp> {
        return acceptor_.local_endpoint().port();
    }
    std::vector<request> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }

  private:
    void serve() {
        while (!stop_) {
            boost::system::error_code ec;
            typename Protocol::socket s(io_);
            acceptor_.accept(s, ec);
            if (ec || stop_) {
                continue;
            }
            boost::beast::flat_buffer buffer;
            http::request<http::string_body> req;
            http::read(s, buffer, req, ec);
            if (ec) {
                continue;
            }
            request r{std::string(req.method_string()), std::string(req.target()),
                      std::string(req[http::field::authorization])};
            {
                std::lock_guard lock(mutex_);
                seen_.push_back(r);
            }
            auto [status, body] = answer_(r);
            http::response<http::string_body> res{static_cast<http::status>(status), 11};
            res.set(http::field::content_type, "application/json");
            res.body() = body;
            res.prepare_payload();
            http::write(s, res, ec);
            s.shutdown(Protocol::socket::shutdown_both, ec);
        }
    }

    answer_fn answer_;
    asio::io_context io_;
    typename Protocol::acceptor acceptor_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::vector<request> seen_;
    std::thread thread_;
};

class admin_server : public basic_admin_server<asio::ip::tcp> {
  public:
    explicit admin_server(answer_fn answer)
        : basic_admin_server(std::move(answer), {asio::ip::make_address("127.0.0.1"), 0}) {}
    std::uint16_t port() { return local_port(); }
};

class MsgflashctlTest : public ::testing::Test {
  protected:
    MsgflashctlTest() {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / fmt::format("msgflashctl-test-{:x}", rd());
        fs::create_directories(dir_ / "state");
        fs::create_directories(dir_ / "spool" / "incoming");
        for (const char* a : {"shop", "agency", "club"}) {
            std::ofstream(dir_ / a) << "msgf_live_FAKE_" << a << "\n";
            fs::permissions(dir_ / a, fs::perms::owner_read | fs::perms::owner_write);
        }
        write_config("127.0.0.1:0");
    }
    ~MsgflashctlTest() override {
        if (std::getenv("MSGFLASHCTL_TEST_KEEP") != nullptr) {  // to look at the queue and files afterwards
            std::cerr << "kept " << dir_ << "\n";
            return;
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void write_config(std::string_view listen) {
        std::ofstream(dir_ / "msgflashd.toml") << fmt::format(R"([spool]
dir = "{0}/spool"
[queue]
path = "{0}/state/queue.db"
[admin]
listen = "{1}"
[[accounts]]
name = "shop"
key_file = "{0}/shop"
rate = 10
[[accounts]]
name = "agency"
key_file = "{0}/agency"
[[accounts]]
name = "club"
key_file = "{0}/club"
[[instances]]
id = "{2}"
per_hour = 360
)",
                                                              dir_.string(), listen, shop_number);
    }

    fs::path db() const { return dir_ / "state" / "queue.db"; }

    // The queue: "hostile" (shop, 3 jobs: one sent and reconciled, one failed, one ready; refs with a comma
    // and quotes), "big" (shop, 100 ready jobs expiring in 10m30s), "agency-b" (5 jobs, its key held for
    // quota), "done-b" (club, its only job sent).
    void build_queue() {
        store::store_options o;
        o.path = db();
        o.now = wall_now();
        auto opened = store::queue_store::open(o);
        ASSERT_TRUE(opened) << opened.error().message();
        auto& q = **opened;
        const timestamp now = wall_now();
        auto s = q.begin_ingest(
            {.now = now, .on_conflict = store::conflict_policy::reject_file, .source = "test"});
        auto batch = [&](std::string id, std::string account, std::optional<timestamp> expires) {
            batch_spec b;
            b.id = std::move(id);
            b.account = std::move(account);
            b.fingerprint = "0000000000000000000000000000000000000000000000000000000000000000";
            b.instance_ids = {std::string(shop_number)};
            b.message_json = R"({"type":"text","body":"Hi"})";
            b.expires_at = expires;
            return s->begin_batch(b);
        };
        auto job = [&](std::size_t b, std::string ref, std::string to) {
            job_spec j;
            j.ref = std::move(ref);
            j.to = std::move(to);
            j.payload_json = R"({"type":"text","body":"Hi"})";
            s->add_job(b, std::move(j));
        };
        const auto hostile = batch("hostile", "shop", std::nullopt);
        job(hostile, std::string(hostile_ref), "+33600000001");
        job(hostile, "plain", "+33600000002");
        job(hostile, "zeta", "+33600000003");
        const auto agency = batch("agency-b", "agency", std::nullopt);
        for (int i = 0; i < 5; ++i) {
            job(agency, fmt::format("a{}", i), fmt::format("+3362{:07}", i));
        }
        const auto done = batch("done-b", "club", std::nullopt);
        job(done, "only", "+33630000000");
        auto report = s->finish();
        ASSERT_TRUE(report) << report.error().message();

        // hostile: its first two jobs claimed (fair order: the first batch's first jobs), one sent, one
        // failed.
        auto c =
            q.submit(store::claim_jobs{store::claim_request{.account = "shop", .max_jobs = 2, .now = now}});
        ASSERT_TRUE(c);
        ASSERT_EQ(c->jobs.size(), 2u);
        ASSERT_EQ(c->jobs[0].ref, hostile_ref);
        ASSERT_TRUE(q.submit(store::record_result{sent(c->jobs[0], now)}));
        store::job_result failed;
        failed.attempt = {.job_id = c->jobs[1].id,
                          .n = c->jobs[1].attempt,
                          .started_at = now,
                          .finished_at = now + 50ms,
                          .http_status = 422,
                          .api_code = "INVALID_DESTINATION",
                          .latency_ms = 50,
                          .message_id = "",
                          .ambiguous = false,
                          .outcome = attempt_outcome::failed,
                          .counted = true};
        failed.new_state = job_state::failed;
        failed.now = now + 50ms;
        ASSERT_TRUE(q.submit(store::record_result{failed}));
        ASSERT_TRUE(q.submit(store::record_delivery{store::delivery_update{.job_id = c->jobs[0].id,
                                                                           .status = "delivered",
                                                                           .status_at = now + 1s,
                                                                           .checked_at = now + 2s,
                                                                           .settled = "delivered"}}));
        auto d =
            q.submit(store::claim_jobs{store::claim_request{.account = "club", .max_jobs = 1, .now = now}});
        ASSERT_TRUE(d);
        ASSERT_EQ(d->jobs.size(), 1u);
        ASSERT_TRUE(q.submit(store::record_result{sent(d->jobs[0], now)}));
        // big arrives after hostile's claims, so those took hostile's first two jobs.
        s = q.begin_ingest(
            {.now = now, .on_conflict = store::conflict_policy::reject_file, .source = "test"});
        const auto big = batch("big", "shop", now + 10min + 30s);
        for (int i = 0; i < 100; ++i) {
            job(big, fmt::format("r{:03}", i), fmt::format("+3361{:07}", i));
        }
        auto report2 = s->finish();
        ASSERT_TRUE(report2) << report2.error().message();
        ASSERT_TRUE(q.submit(store::place_hold(
            store::hold_request{store::hold_target{hold_scope::key, "agency", "quota",
                                                   "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", now + 24h},
                                now})));
        q.close();
    }

    static store::job_result sent(const store::claimed_job& j, timestamp now) {
        store::job_result r;
        r.attempt = {.job_id = j.id,
                     .n = j.attempt,
                     .started_at = now,
                     .finished_at = now + 100ms,
                     .http_status = 200,
                     .api_code = "",
                     .latency_ms = 100,
                     .message_id = "msg-" + std::to_string(j.id),
                     .ambiguous = false,
                     .outcome = attempt_outcome::sent,
                     .counted = true};
        r.new_state = job_state::sent;
        r.api_status = "queued";
        r.instance_id = std::string(shop_number);
        r.count_send = true;
        r.now = now + 100ms;
        return r;
    }

    // Starts msgflashctl --config <ours> ARGS..., stdout and stderr to files (never a terminal).
    pid_t spawn_ctl(std::vector<std::string> args, bool with_config = true) {
        std::vector<std::string> argv{MSGFLASHCTL_PATH};
        if (with_config) {
            argv.push_back("--config");
            argv.push_back((dir_ / "msgflashd.toml").string());
        }
        argv.insert(argv.end(), args.begin(), args.end());
        int error = 0;
        const pid_t pid = spawn_process(argv, {.out = out_path(), .err = dir_ / "err.txt"}, &error);
        if (pid <= 0) {
            ADD_FAILURE() << "posix_spawn: " << error;
        }
        return pid;
    }

    fs::path out_path() const { return dir_ / "out.txt"; }

    // Waits for the process (killed after `limit`) and collects its exit code and output.
    run_result finish(pid_t pid, std::chrono::milliseconds limit = 60s) {
        run_result r;
        if (pid <= 0) {
            return r;
        }
        std::optional<int> code = wait_exit(pid, limit, poll_interval);
        if (!code) {
            ADD_FAILURE() << "msgflashctl did not exit within " << limit.count() << " ms";
            ::kill(pid, SIGKILL);
            code = wait_exit(pid, limit, poll_interval);
        }
        r.exit_code = code.value_or(-1);
        r.out = slurp(out_path());
        r.err = slurp(dir_ / "err.txt");
        return r;
    }

    run_result ctl(std::vector<std::string> args, bool with_config = true) {
        return finish(spawn_ctl(std::move(args), with_config));
    }

    json::value ctl_json(std::vector<std::string> args) {
        args.push_back("--json");
        auto r = ctl(std::move(args));
        EXPECT_EQ(r.exit_code, 0) << r.err;
        boost::system::error_code ec;
        json::value v = json::parse(r.out, ec);
        EXPECT_FALSE(ec) << r.out;
        return v;
    }

    fs::path write_file(const std::string& name, std::string_view content) {
        const fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }

    void write_admin_files(std::uint16_t port, std::string_view token) {
        std::ofstream(dir_ / "state" / "admin.address") << "127.0.0.1:" << port << "\n";
        std::ofstream(dir_ / "state" / "admin.token") << token << "\n";
    }

    fs::path dir_;
};

const json::object& find_by(const json::array& arr, std::string_view key, std::string_view value) {
    for (const auto& v : arr) {
        if (v.as_object().at(key).as_string() == value) {
            return v.as_object();
        }
    }
    static const json::object none;
    ADD_FAILURE() << "no " << key << " = " << value;
    return none;
}

TEST_F(MsgflashctlTest, UsageErrorsExitTwoWithTheUsageOnStderr) {
    for (std::vector<std::string> args :
         std::vector<std::vector<std::string>>{{"frobnicate"},
                                               {},
                                               {"jobs"},
                                               {"status", "--bogus"},
                                               {"watch"},
                                               {"retry"},
                                               {"export", "b", "--format", "xml"}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 2) << fmt::format("{}", fmt::join(args, " "));
        EXPECT_NE(r.err.find("usage: msgflashctl"), std::string::npos);
        EXPECT_TRUE(r.out.empty());
    }
    auto help = ctl({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("usage: msgflashctl"), std::string::npos);
}

TEST_F(MsgflashctlTest, AMissingQueueOrConfigIsAFailure) {
    auto r = ctl({"status"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot open the queue"), std::string::npos) << r.err;
    auto c = ctl({"--config", (dir_ / "nope.toml").string(), "status"}, false);
    EXPECT_EQ(c.exit_code, 1);
}

TEST_F(MsgflashctlTest, StatusShowsTheQueueByAccountNumberStateAndAge) {
    build_queue();
    auto r = ctl({"status"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (std::string_view s :
         std::vector<std::string_view>{"Jobs by state", "Pending jobs by age", "shop", "agency", "club",
                                       shop_number, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", "360/h"}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    }
    const json::value v = ctl_json({"status"});
    const auto& accounts = v.at("accounts").as_array();
    const auto& shop = find_by(accounts, "account", "shop");
    EXPECT_EQ(shop.at("counts").at("total").as_int64(), 103);
    EXPECT_EQ(shop.at("counts").at("sent").as_int64(), 1);
    EXPECT_EQ(shop.at("counts").at("failed").as_int64(), 1);
    EXPECT_EQ(shop.at("counts").at("ready").as_int64(), 101);
    // All pending jobs were queued just now: the youngest age bucket.
    EXPECT_EQ(shop.at("age").at("lt_5m").as_int64(), 101);
    EXPECT_EQ(shop.at("age").at("pending").as_int64(), 101);
    EXPECT_EQ(shop.at("rate").as_int64(), 10);
    const auto& numbers = shop.at("numbers").as_array();
    ASSERT_FALSE(numbers.empty());
    const auto& agency = find_by(accounts, "account", "agency");
    EXPECT_EQ(agency.at("counts").at("ready").as_int64(), 5);
    const auto& holds = v.at("holds").as_array();
    ASSERT_EQ(holds.size(), 1u);
    EXPECT_EQ(holds[0].at("scope").as_string(), "key");
    EXPECT_EQ(holds[0].at("subject").as_string(), "agency");
    EXPECT_EQ(holds[0].at("cause").as_string(), "quota");
    // Two sends on the shop's number (hostile and done-b), counted in this minute.
    const auto& n = find_by(v.at("numbers").as_array(), "instance", shop_number);
    EXPECT_EQ(n.at("this_minute").as_int64(), 2);
    EXPECT_EQ(n.at("caps").at("per_hour").as_int64(), 360);
}

TEST_F(MsgflashctlTest, BatchesShowProgressPaceEtaAndWhatWillExpire) {
    build_queue();
    const json::value v = ctl_json({"batches"});
    const auto& arr = v.as_array();
    // done-b is finished only once the daemon collects it; every batch here is unfinished.
    const auto& big = find_by(arr, "batch", "big");
    EXPECT_EQ(big.at("counts").at("pending").as_int64(), 100);
    // shop's 10/s is shared by hostile and big (5/s each), but their number is capped at 360/h (0.1/s) and
    // shared by the two (agency-b names it too, but its key is held, done-b has nothing pending): 0.05/s
    // each.
    EXPECT_NEAR(big.at("pace").as_double(), 0.05, 1e-9);
    EXPECT_EQ(big.at("eta_seconds").as_int64(), 2000);
    // 10m30s at 0.05/s sends 31 of the 100 (the test's few seconds do not change the floor): 69 will expire.
    EXPECT_EQ(big.at("will_expire").as_int64(), 69);
    const auto& hostile = find_by(arr, "batch", "hostile");
    EXPECT_EQ(hostile.at("counts").at("done").as_int64(), 2);
    EXPECT_EQ(hostile.at("will_expire").as_int64(), 0);
    // The agency's key is held: no pace, no ETA.
    const auto& agency = find_by(arr, "batch", "agency-b");
    EXPECT_EQ(agency.at("pace").as_double(), 0.0);
    EXPECT_TRUE(agency.at("eta_seconds").is_null());

    auto r = ctl({"batches"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (std::string_view s :
         {"BATCH", "ETA", "WILL EXPIRE", "hostile", "big", "33m20s", "3.0/min", "never"}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    }
    auto only = ctl_json({"batches", "--account", "agency"});
    EXPECT_EQ(only.as_array().size(), 1u);
    // Shown or not, hostile still shares big's pace.
    auto newest = ctl_json({"batches", "--limit", "1"});
    ASSERT_EQ(newest.as_array().size(), 1u);
    EXPECT_EQ(newest.as_array()[0].at("batch").as_string(), "big");
    EXPECT_NEAR(newest.as_array()[0].at("pace").as_double(), 0.05, 1e-9);
}

TEST_F(MsgflashctlTest, JobsListsABatchByState) {
    build_queue();
    const json::value all = ctl_json({"jobs", "--batch", "hostile"});
    ASSERT_EQ(all.as_array().size(), 3u);
    const json::value failed = ctl_json({"jobs", "--batch", "hostile", "--state", "failed"});
    ASSERT_EQ(failed.as_array().size(), 1u);
    EXPECT_EQ(failed.as_array()[0].at("ref").as_string(), "plain");
    EXPECT_EQ(failed.as_array()[0].at("last_code").as_string(), "INVALID_DESTINATION");
    // Paging: the 100 jobs of big come back in ref order, limited on request.
    EXPECT_EQ(ctl_json({"jobs", "--batch", "big"}).as_array().size(), 100u);
    EXPECT_EQ(ctl_json({"jobs", "--batch", "big", "--limit", "7"}).as_array().size(), 7u);
    auto human = ctl({"jobs", "--batch", "hostile", "--state", "sent"});
    ASSERT_EQ(human.exit_code, 0);
    EXPECT_NE(human.out.find(hostile_ref), std::string::npos);
    EXPECT_EQ(ctl({"jobs", "--batch", "nope"}).exit_code, 1);
}

TEST_F(MsgflashctlTest, ExportCsvRoundTripsAHostileRef) {
    build_queue();
    auto r = ctl({"export", "hostile"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto rows = report::parse_csv(r.out);
    ASSERT_EQ(rows.size(), 4u) << r.out;
    EXPECT_EQ(rows[0], std::vector<std::string>(report::columns.begin(), report::columns.end()));
    std::map<std::string, std::vector<std::string>> by_ref;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), 9u);
        by_ref[rows[i][0]] = rows[i];
    }
    ASSERT_TRUE(by_ref.contains(std::string(hostile_ref))) << r.out;
    const auto& h = by_ref[std::string(hostile_ref)];
    EXPECT_EQ(h[1], "+33600000001");
    EXPECT_EQ(h[2], "sent");
    EXPECT_TRUE(h[3].starts_with("msg-"));
    EXPECT_EQ(h[4], "1");
    EXPECT_FALSE(h[6].empty());  // sent_at
    EXPECT_EQ(h[7], "delivered");
    EXPECT_EQ(h[8], "false");
    EXPECT_EQ(by_ref["plain"][2], "failed");
    EXPECT_EQ(by_ref["plain"][5], "INVALID_DESTINATION");
    EXPECT_EQ(by_ref["zeta"][2], "ready");

    auto nd = ctl({"export", "hostile", "--format", "ndjson"});
    ASSERT_EQ(nd.exit_code, 0) << nd.err;
    std::istringstream lines(nd.out);
    std::string line;
    std::vector<json::value> docs;
    while (std::getline(lines, line)) {
        docs.push_back(json::parse(line));
    }
    ASSERT_EQ(docs.size(), 3u);
    // In ref order: "plain" < "x,…" < "zeta".
    EXPECT_EQ(docs[1].at("ref").as_string(), hostile_ref);
    EXPECT_EQ(docs[1].at("delivery_status").as_string(), "delivered");
    EXPECT_EQ(docs[1].at("ambiguous").as_bool(), false);
    EXPECT_TRUE(docs[2].at("sent_at").is_null());
    EXPECT_EQ(ctl({"export", "nope"}).exit_code, 1);
}

TEST_F(MsgflashctlTest, WatchEndsWhenTheBatchHasNothingPending) {
    build_queue();
    auto r = ctl({"watch", "done-b"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("done-b: 1/1 done (sent 1, failed 0, pending 0)"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\r'), std::string::npos);  // not a terminal: plain lines, no bar
    EXPECT_EQ(ctl({"watch", "nope"}).exit_code, 1);
    EXPECT_EQ(ctl({"watch", "done-b", "--interval", "soon"}).exit_code, 2);
}

TEST_F(MsgflashctlTest, WatchPrintsALineEachIntervalUntilTheLastJobEnds) {
    build_queue();
    store::store_options o;
    o.path = db();
    o.now = wall_now();
    auto opened = store::queue_store::open(o);
    ASSERT_TRUE(opened) << opened.error().message();
    auto& q = **opened;
    {
        auto s = q.begin_ingest(
            {.now = wall_now(), .on_conflict = store::conflict_policy::reject_file, .source = "t"});
        batch_spec b;
        b.id = "live-b";
        b.account = "club";
        b.message_json = R"({"type":"text","body":"Hi"})";
        const auto bi = s->begin_batch(b);
        job_spec j;
        j.ref = "one";
        j.to = "+33640000000";
        s->add_job(bi, std::move(j));
        ASSERT_TRUE(s->finish());
    }
    const pid_t pid = spawn_ctl({"watch", "live-b", "--interval", "50ms"});
    // Its first line says nothing is done yet; then the job is sent and watch ends by itself.
    wait_for([&] { return slurp(out_path()).find("0/1 done") != std::string::npos; }, 30s, poll_interval);
    auto c = q.submit(
        store::claim_jobs{store::claim_request{.account = "club", .max_jobs = 1, .now = wall_now()}});
    ASSERT_TRUE(c);
    ASSERT_EQ(c->jobs.size(), 1u);
    ASSERT_TRUE(q.submit(store::record_result{sent(c->jobs[0], wall_now())}));
    auto r = finish(pid);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto first = r.out.find("live-b: 0/1 done (sent 0, failed 0, pending 1)");
    const auto last = r.out.find("live-b: 1/1 done (sent 1, failed 0, pending 0)");
    EXPECT_NE(first, std::string::npos) << r.out;
    ASSERT_NE(last, std::string::npos) << r.out;
    EXPECT_LT(first, last);
    EXPECT_EQ(r.out.find("live-b:", last + 1), std::string::npos) << "nothing after the last line";
    q.close();
}

constexpr std::string_view good_batch = R"({"batch":"new-batch","account":"shop",
"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","message":{"type":"text","body":"Hi {{name}}"},
"recipients":[{"to":"+33612345678","variables":{"name":"Ana"}},{"to":"+33612345679","variables":{"name":"Bo"}}]})";

TEST_F(MsgflashctlTest, ValidateRunsTheSpoolsReader) {
    build_queue();
    const fs::path good = write_file("good.json", good_batch);
    auto ok = ctl({"validate", good.string()});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("ok, 1 batch(es), 2 job(s)"), std::string::npos) << ok.out;

    // An unknown account on line 2 and a bad recipient on line 4: the file is rejected.
    const fs::path bad = write_file("bad.json",
                                    "{\"batch\":\"b9\",\n\"account\":\"nobody\",\n"
                                    "\"message\":{\"type\":\"text\",\"body\":\"x\"},\n"
                                    "\"recipients\":[{\"to\":\"12\"}]}");
    auto r = ctl({"validate", bad.string(), "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const json::value report = json::parse(r.out);
    EXPECT_EQ(report.at("file").as_string(), "bad.json");
    bool unknown_account = false;
    for (const auto& e : report.at("errors").as_array()) {
        if (e.at("code").as_string() == "UNKNOWN_ACCOUNT") {
            unknown_account = true;
            EXPECT_EQ(e.at("line").as_int64(), 2);
            EXPECT_EQ(e.at("field").as_string(), "account");
        }
    }
    EXPECT_TRUE(unknown_account) << r.out;
    auto human = ctl({"validate", bad.string()});
    EXPECT_EQ(human.exit_code, 1);
    EXPECT_NE(human.out.find("REJECTED"), std::string::npos);
    EXPECT_NE(human.out.find("UNKNOWN_ACCOUNT"), std::string::npos);

    // A bad recipient alone is skipped (spool.on_invalid_recipient = skip): accepted, unless --strict.
    const fs::path skip = write_file("skip.json", R"({"batch":"s1","account":"shop",
"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","message":{"type":"text","body":"Hi"},
"recipients":[{"to":"+33612345678"},{"to":"+12"}]})");
    auto skipped = ctl({"validate", skip.string()});
    EXPECT_EQ(skipped.exit_code, 0);
    EXPECT_NE(skipped.out.find("INVALID_DESTINATION"), std::string::npos) << skipped.out;
    EXPECT_NE(skipped.out.find("recipients[1].to"), std::string::npos) << skipped.out;
    EXPECT_EQ(ctl({"validate", skip.string(), "--strict"}).exit_code, 1);

    // The batch id "hostile" is already queued with other content: the store would refuse it.
    const fs::path conflict = write_file("conflict.json", R"({"batch":"hostile","account":"shop",
"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","message":{"type":"text","body":"Hi"},
"recipients":[{"to":"+33612345678"}]})");
    auto c = ctl({"validate", conflict.string(), "--json"});
    EXPECT_EQ(c.exit_code, 1);
    EXPECT_NE(c.out.find("BATCH_CONFLICT"), std::string::npos) << c.out;

    EXPECT_EQ(ctl({"validate", (dir_ / "missing.json").string()}).exit_code, 1);
    const fs::path wrong_name = write_file("notes.txt", good_batch);
    auto n = ctl({"validate", wrong_name.string(), "--json"});
    EXPECT_EQ(n.exit_code, 1);
    EXPECT_NE(n.out.find("BAD_NAME"), std::string::npos) << n.out;
}

TEST_F(MsgflashctlTest, SubmitDropsAValidFileIntoIncomingAndRefusesABadOne) {
    const fs::path good = write_file("good.json", good_batch);
    auto r = ctl({"submit", good.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const fs::path incoming = dir_ / "spool" / "incoming";
    EXPECT_EQ(slurp(incoming / "good.json"), good_batch);
    // Again: never replaces the first, takes the next free name.
    ASSERT_EQ(ctl({"submit", good.string()}).exit_code, 0);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(incoming)) {
        names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    ASSERT_EQ(names.size(), 2u);  // no dot-file left behind
    EXPECT_EQ(names[0], "good.json");
    EXPECT_EQ(slurp(incoming / names[1]), good_batch);
    EXPECT_NE(names[1], "good.json");

    const fs::path bad = write_file("bad.ndjson", "not json\n");
    auto b = ctl({"submit", bad.string()});
    EXPECT_EQ(b.exit_code, 1);
    EXPECT_FALSE(fs::exists(incoming / "bad.ndjson"));
    EXPECT_NE(b.err.find("not submitted"), std::string::npos) << b.err;
}

TEST_F(MsgflashctlTest, ControlVerbsPostToTheAdminEndpointWithTheToken) {
    admin_server server([](const admin_server::request& r) -> std::pair<unsigned, std::string> {
        if (r.authorization != fmt::format("Bearer {}", admin_token)) {
            return {401, R"({"error":{"code":"UNAUTHORIZED","message":"a valid admin token is required"}})"};
        }
        if (r.method != "POST") {
            return {400, R"({"error":{"code":"BAD_REQUEST","message":"POST only"}})"};
        }
        static const std::map<std::string, std::pair<unsigned, std::string>> answers{
            {"/control/batches/hostile/pause", {200, R"({"ok":true,"state":"paused","jobs_changed":1})"}},
            {"/control/batches/hostile/resume", {200, R"({"ok":true,"state":"active","jobs_changed":1})"}},
            {"/control/batches/a%20b%2Fc/cancel",
             {200, R"({"ok":true,"state":"cancelled","jobs_changed":4})"}},
            {"/control/batches/gone/retry",
             {409, R"({"error":{"code":"CONFLICT","message":"the batch is cancelled"}})"}},
            {"/control/retry-dead", {200, R"({"ok":true,"jobs_changed":3,"batches":2})"}},
            {"/control/accounts/agency/resume", {200, R"({"ok":true,"was_held":true,"jobs_resumed":5})"}},
            {"/control/instances/7c9e6679-7425-40de-944b-e07fc1f90ae7/resume",
             {200, R"({"ok":true,"was_held":false,"jobs_resumed":0})"}},
            {"/control/reconcile", {200, R"({"ok":true,"queued":12})"}},
            {"/control/reconcile?batch=hostile", {200, R"({"ok":true,"queued":1})"}},
            {"/control/campaigns/c-1/pause", {200, R"({"ok":true,"status":"paused"})"}},
        };
        if (auto it = answers.find(r.target); it != answers.end()) {
            return it->second;
        }
        return {404, R"({"error":{"code":"NOT_FOUND","message":"no such batch"}})"};
    });
    write_admin_files(server.port(), admin_token);

    struct expectation {
        std::vector<std::string> args;
        std::string target;
        int exit_code;
        std::string output;  // in stdout (ok) or stderr (failure)
    };
    const std::vector<expectation> cases{
        {{"pause", "hostile"}, "/control/batches/hostile/pause", 0, "state=paused"},
        {{"resume", "hostile"}, "/control/batches/hostile/resume", 0, "jobs_changed=1"},
        {{"cancel", "a b/c"}, "/control/batches/a%20b%2Fc/cancel", 0, "jobs_changed=4"},
        {{"pause", "nope"}, "/control/batches/nope/pause", 1, "NOT_FOUND"},
        {{"retry", "gone"}, "/control/batches/gone/retry", 1, "CONFLICT"},
        {{"retry", "--dead"}, "/control/retry-dead", 0, "batches=2"},
        {{"resume", "--account", "agency"}, "/control/accounts/agency/resume", 0, "was_held=true"},
        {{"resume", "--instance", "7C9E6679-7425-40DE-944B-E07FC1F90AE7"},
         "/control/instances/7c9e6679-7425-40de-944b-e07fc1f90ae7/resume",
         0,
         "jobs_resumed=0"},
        {{"reconcile"}, "/control/reconcile", 0, "queued=12"},
        {{"reconcile", "hostile"}, "/control/reconcile?batch=hostile", 0, "queued=1"},
        {{"campaign", "pause", "c-1"}, "/control/campaigns/c-1/pause", 0, "status=paused"},
    };
    for (const auto& c : cases) {
        const std::size_t before = server.seen().size();
        auto r = ctl(c.args);
        const std::string what = fmt::format("{}", fmt::join(c.args, " "));
        EXPECT_EQ(r.exit_code, c.exit_code) << what << "\n" << r.out << r.err;
        EXPECT_NE((c.exit_code == 0 ? r.out : r.err).find(c.output), std::string::npos) << what << "\n"
                                                                                        << r.out << r.err;
        const auto seen = server.seen();
        ASSERT_EQ(seen.size(), before + 1) << what;
        EXPECT_EQ(seen.back().method, "POST");
        EXPECT_EQ(seen.back().target, c.target) << what;
        EXPECT_EQ(seen.back().authorization, fmt::format("Bearer {}", admin_token));
    }
    // --json prints the daemon's answer as it is.
    auto j = ctl({"pause", "hostile", "--json"});
    ASSERT_EQ(j.exit_code, 0);
    EXPECT_EQ(json::parse(j.out).at("jobs_changed").as_int64(), 1);
    // Not a UUID: a usage error, nothing sent.
    const std::size_t before = server.seen().size();
    EXPECT_EQ(ctl({"resume", "--instance", "main-number"}).exit_code, 2);
    EXPECT_EQ(server.seen().size(), before);

    // A wrong token: 401, exit 1, said so.
    write_admin_files(server.port(), "ffff");
    auto wrong = ctl({"pause", "hostile"});
    EXPECT_EQ(wrong.exit_code, 1);
    EXPECT_NE(wrong.err.find("UNAUTHORIZED"), std::string::npos) << wrong.err;
}

TEST_F(MsgflashctlTest, ControlOverAUnixSocketNamedInAdminAddress) {
    const fs::path sock = dir_ / "state" / "admin.sock";
    basic_admin_server<asio::local::stream_protocol> server(
        [](const admin_request& r) -> std::pair<unsigned, std::string> {
            if (r.method == "POST" && r.target == "/control/batches/hostile/cancel") {
                return {200, R"({"ok":true,"state":"cancelled","jobs_changed":1})"};
            }
            return {404, R"({"error":{"code":"NOT_FOUND","message":"no such batch"}})"};
        },
        asio::local::stream_protocol::endpoint(sock.string()));
    // No token file: over the unix socket the daemon needs none (the socket's mode decides).
    std::ofstream(dir_ / "state" / "admin.address") << "unix:" << sock.string() << "\n";
    auto r = ctl({"cancel", "hostile"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("state=cancelled"), std::string::npos) << r.out;
    const auto seen = server.seen();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].target, "/control/batches/hostile/cancel");
    EXPECT_TRUE(seen[0].authorization.empty());
}

TEST_F(MsgflashctlTest, NoAdminAddressWithPortZeroMeansNoDaemon) {
    // The config says port 0 (any free port) and no daemon wrote admin.address.
    auto r = ctl({"retry", "--dead"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("admin.address does not exist"), std::string::npos) << r.err;
}

TEST_F(MsgflashctlTest, AnUnreachableDaemonIsAFailure) {
    // A port nobody listens on: bound, then closed.
    std::uint16_t port = 0;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    write_config(fmt::format("127.0.0.1:{}", port));  // no admin.address: admin.listen is used
    auto r = ctl({"pause", "hostile"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not reachable"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace msgflash::test
