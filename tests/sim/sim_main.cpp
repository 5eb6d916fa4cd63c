// msgflash-sim: the MsgFlash API simulator as a program, for integration tests, benchmarks and demos.
// Arguments → sim_config → world + server → run until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include "tests/sim/sim_config.hpp"
#include "tests/sim/sim_server.hpp"
#include "tests/sim/sim_world.hpp"

namespace {

namespace po = boost::program_options;
namespace sim = msgflash::sim;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "HOST:PORT", "[v6]:PORT" or ":PORT" (host unchanged).
void apply_listen(const std::string& listen, sim::server_config& server) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        throw usage_error("--listen wants HOST:PORT, got '" + listen + "'");
    }
    std::string host = listen.substr(0, colon);
    const std::string port = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned long value = 0;
    try {
        std::size_t used = 0;
        value = std::stoul(port, &used);
        if (used != port.size()) {
            throw std::invalid_argument(port);
        }
    } catch (const std::exception&) {
        throw usage_error("--listen: bad port '" + port + "'");
    }
    if (value > 65535) {
        throw usage_error("--listen: bad port '" + port + "'");
    }
    if (!host.empty()) {
        server.host = host;
    }
    server.port = static_cast<std::uint16_t>(value);
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::string url_host(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Written to a temporary name and renamed so that a script waiting for the file never reads half of it.
void write_port_file(const std::filesystem::path& path, std::uint16_t port) {
    std::filesystem::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << port << '\n';
        out.flush();
        if (!out) {
            throw std::runtime_error("cannot write port file " + tmp.string());
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw std::runtime_error("cannot write port file " + path.string() + ": " + ec.message());
    }
}

int run(int argc, char** argv) {
    po::options_description options("msgflash-sim options");
    // clang-format off
    options.add_options()
        ("help,h", "show this help")
        ("config", po::value<std::string>(), "world description (TOML); default: the built-in world")
        ("listen", po::value<std::string>(), "HOST:PORT to listen on (port 0: ephemeral); default 127.0.0.1:0")
        ("threads", po::value<unsigned>(), "server threads (default from the config: 2)")
        ("tls-cert", po::value<std::string>(), "PEM certificate chain: serve HTTPS")
        ("tls-key", po::value<std::string>(), "PEM private key for --tls-cert")
        ("no-limiter", "turn off the 10 req/s per key limiter (throughput benchmarks)")
        ("port-file", po::value<std::string>(), "write the bound port to this file once listening")
        ("seed", po::value<std::uint64_t>(), "seed of the fault generator")
        ("allow-remote", "allow listening on a non-loopback address");
    // clang-format on
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(options).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "msgflash-sim: " << e.what() << "\n" << options;
        return exit_usage;
    }
    if (vm.count("help") != 0) {
        std::cout
            << "usage: msgflash-sim [--config FILE] [--listen HOST:PORT] [--threads N]\n"
               "                    [--tls-cert F --tls-key F] [--no-limiter] [--port-file F] [--seed N]\n"
            << options;
        return 0;
    }
    if ((vm.count("tls-cert") != 0) != (vm.count("tls-key") != 0)) {
        std::cerr << "msgflash-sim: --tls-cert and --tls-key go together\n";
        return exit_usage;
    }
    if (vm.count("threads") != 0 && vm["threads"].as<unsigned>() == 0) {
        std::cerr << "msgflash-sim: --threads must be at least 1\n";
        return exit_usage;
    }

    sim::sim_config config;
    try {
        config = vm.count("config") != 0 ? sim::load_sim_config(vm["config"].as<std::string>())
                                         : sim::default_sim_config();
    } catch (const std::exception& e) {
        std::cerr << "msgflash-sim: bad config: " << e.what() << "\n";
        return exit_failure;
    }
    try {
        if (vm.count("listen") != 0) {
            apply_listen(vm["listen"].as<std::string>(), config.server);
        }
    } catch (const usage_error& e) {
        std::cerr << "msgflash-sim: " << e.what() << "\n";
        return exit_usage;
    }
    if (vm.count("threads") != 0) {
        config.server.threads = vm["threads"].as<unsigned>();
    }
    if (vm.count("tls-cert") != 0) {
        config.server.tls_cert = vm["tls-cert"].as<std::string>();
        config.server.tls_key = vm["tls-key"].as<std::string>();
    }
    if (vm.count("no-limiter") != 0) {
        config.limits.enabled = false;
    }
    if (vm.count("seed") != 0) {
        config.faults.seed = vm["seed"].as<std::uint64_t>();
    }
    if (!is_loopback_host(config.server.host) && vm.count("allow-remote") == 0) {
        std::cerr << "msgflash-sim: refusing to listen on non-loopback address '" << config.server.host
                  << "' without --allow-remote\n";
        return exit_usage;
    }

    // Signals are caught before the port is announced, so a script that signals as soon as it reads the
    // port never meets the default disposition.
    boost::asio::io_context signals_ioc;
    boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);

    std::unique_ptr<sim::server> server;
    try {
        auto world = std::make_shared<sim::world>(config);
        server = std::make_unique<sim::server>(std::move(world), config.server);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return exit_failure;
    }
    server->start();

    const std::string scheme = server->tls() ? "https" : "http";
    std::cout << "msgflash-sim listening on " << scheme << "://" << url_host(config.server.host) << ":"
              << server->port() << std::endl;
    if (vm.count("port-file") != 0) {
        try {
            write_port_file(vm["port-file"].as<std::string>(), server->port());
        } catch (const std::exception& e) {
            std::cerr << "msgflash-sim: " << e.what() << "\n";
            server->stop();
            return exit_failure;
        }
    }

    signals.async_wait([](const boost::system::error_code&, int) {});
    signals_ioc.run();
    server->stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "msgflash-sim: " << e.what() << "\n";
        return exit_failure;
    }
}
