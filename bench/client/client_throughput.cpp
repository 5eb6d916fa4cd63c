// client_throughput: the API client alone, unpaced, against a running msgflash-sim: N coroutines on one
// thread call GET /api/v1/instances back to back over a pool of that many connections, for a fixed time after
// a warm-up. Prints the figures as `name: value` lines for bench/client_throughput to read.
//   client_throughput --port P [--host 127.0.0.1] [--tls --ca-file F] [--connections 64]
//                     [--seconds 10] [--warmup-seconds 1] [--key msgf_live_…]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/api_client.hpp"
#include "config/api_keys.hpp"

namespace {

namespace asio = boost::asio;
namespace api = msgflash::api;
using steady = std::chrono::steady_clock;

struct arguments {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    bool tls = false;
    std::string ca_file;
    unsigned connections = 64;
    double seconds = 10;
    double warmup_seconds = 1;
    std::string key = "msgf_live_FAKE_shop_key";  // the simulator's built-in personal key (fake)
};

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "client_throughput: " << problem
              << "\nusage: client_throughput --port P [--host H] [--tls --ca-file F] [--connections N] "
                 "[--seconds S] [--warmup-seconds S] [--key K]\n";
    std::exit(2);
}

arguments parse(int argc, char** argv) {
    arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage(std::string(arg) + " needs a value");
            }
            return argv[++i];
        };
        try {
            if (arg == "--host") {
                a.host = value();
            } else if (arg == "--port") {
                a.port = static_cast<std::uint16_t>(std::stoul(value()));
            } else if (arg == "--tls") {
                a.tls = true;
            } else if (arg == "--ca-file") {
                a.ca_file = value();
            } else if (arg == "--connections") {
                a.connections = static_cast<unsigned>(std::stoul(value()));
            } else if (arg == "--seconds") {
                a.seconds = std::stod(value());
            } else if (arg == "--warmup-seconds") {
                a.warmup_seconds = std::stod(value());
            } else if (arg == "--key") {
                a.key = value();
            } else {
                usage("unknown argument " + std::string(arg));
            }
        } catch (const std::logic_error&) {
            usage("bad value for " + std::string(arg));
        }
    }
    if (a.port == 0 || a.connections == 0 || a.seconds <= 0) {
        usage("--port, a positive --connections and --seconds are required");
    }
    return a;
}

struct tally {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    std::string first_failure;
};

steady::duration seconds(double s) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
}

// One caller: requests back to back until `until`; counts only what completes inside [from, until).
asio::awaitable<void> caller(api::api_client& client, msgflash::api_key key, steady::time_point from,
                             steady::time_point until, tally& t) {
    while (steady::now() < until) {
        const auto r = co_await client.list_instances(key);
        if (steady::now() < from || steady::now() >= until) {
            continue;
        }
        if (r.ok()) {
            ++t.ok;
        } else {
            if (t.failed++ == 0) {
                t.first_failure = r.failure().detail;
            }
        }
    }
}

asio::awaitable<void> finish(api::api_client& client, steady::time_point at) {
    asio::steady_timer timer(co_await asio::this_coro::executor, at);
    co_await timer.async_wait(asio::use_awaitable);
    // The callers' last requests end at `until`; give them a moment, then close every connection.
    timer.expires_after(std::chrono::milliseconds(200));
    co_await timer.async_wait(asio::use_awaitable);
    client.shutdown();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const arguments a = parse(argc, argv);
        auto key = msgflash::make_api_key(a.key, "");
        if (!key.ok()) {
            usage(key.error->to_string());
        }
        asio::io_context ioc(1);
        api::client_options o;
        o.pool.origin = msgflash::http_origin{a.tls, a.host, a.port};
        o.pool.ca_file = a.ca_file;
        o.pool.max_connections = a.connections;
        o.pool.request_timeout = std::chrono::seconds(10);
        o.pool.queue_timeout = std::chrono::seconds(10);
        o.pool.idle_timeout = std::chrono::seconds(30);
        api::api_client client(ioc.get_executor(), o);

        const auto start = steady::now();
        const auto from = start + seconds(a.warmup_seconds);
        const auto until = from + seconds(a.seconds);
        tally t;
        for (unsigned i = 0; i < a.connections; ++i) {
            asio::co_spawn(ioc, caller(client, *key.value, from, until, t), asio::detached);
        }
        asio::co_spawn(ioc, finish(client, until), asio::detached);
        ioc.run();

        const auto stats = client.stats();
        const double measured = a.seconds;
        std::printf("requests: %llu\n", static_cast<unsigned long long>(t.ok));
        std::printf("failed: %llu\n", static_cast<unsigned long long>(t.failed));
        std::printf("seconds: %.3f\n", measured);
        std::printf("connections_opened: %llu\n", static_cast<unsigned long long>(stats.connections_opened));
        std::printf("tls_handshakes: %llu\n", static_cast<unsigned long long>(stats.tls_handshakes));
        std::printf("tls_resumed: %llu\n", static_cast<unsigned long long>(stats.tls_resumed));
        if (t.failed > 0) {
            std::printf("first_failure: %s\n", t.first_failure.c_str());
        }
        std::printf("requests_per_second: %.0f\n", static_cast<double>(t.ok) / measured);
        return t.failed == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "client_throughput: " << e.what() << "\n";
        return 1;
    }
}
