#include "tests/support/sim_fixture.hpp"

#include <utility>

#include <boost/json/parse.hpp>

namespace msgflash::test {

sim_instance::sim_instance(sim::sim_config config, std::string ca_file)
    : config_(std::move(config)), ca_file_(std::move(ca_file)) {
    config_.server.host = "127.0.0.1";
    config_.server.port = 0;
    world_ = std::make_shared<sim::world>(config_);
    server_ = std::make_unique<sim::server>(world_, config_.server);
    server_->start();
}

sim_instance::~sim_instance() {
    stop();
}

std::uint16_t sim_instance::port() const {
    return server_->port();
}

client_options sim_instance::options() const {
    test::client_options o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.tls = server_->tls();
    o.ca_file = ca_file_;
    return o;
}

http_client sim_instance::client() const {
    return http_client(options());
}

void sim_instance::stop() {
    if (server_) {
        server_->stop();
    }
}

boost::json::value parse_json(std::string_view text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    return ec ? boost::json::value() : v;
}

std::string error_code_of(std::string_view body) {
    const auto v = parse_json(body);
    const auto* root = v.if_object();
    if (root == nullptr) {
        return {};
    }
    const auto* error = root->if_contains("error");
    if (error == nullptr || !error->is_object()) {
        return {};
    }
    const auto* code = error->as_object().if_contains("code");
    if (code == nullptr || !code->is_string()) {
        return {};
    }
    return std::string(code->as_string());
}

}  // namespace msgflash::test
