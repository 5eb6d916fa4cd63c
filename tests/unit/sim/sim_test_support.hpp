// Shared fixture for the simulator's world tests: the built-in world, virtual clocks, request helpers.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/sim/sim_config.hpp"
#include "tests/sim/sim_world.hpp"

namespace msgflash::sim::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

// The built-in world's fixtures (sim_config.cpp, built_in_world).
inline constexpr std::string_view shop_key = "msgf_live_FAKE_shop_key";
inline constexpr std::string_view agency_key = "msgf_team_FAKE_agency_key";
inline constexpr std::string_view agency_team = "5f0c2a7e-3b1d-4c8e-9a6f-2d4b8e1c7a90";
inline constexpr std::string_view tiny_key = "msgf_live_FAKE_tiny_key";
inline constexpr std::string_view shop_main = "7c9e6679-7425-40de-944b-e07fc1f90ae7";    // connected, healthy
inline constexpr std::string_view shop_second = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";  // connected, warning
inline constexpr std::string_view agency_main = "9f8b2c4d-6e1a-4b3c-8d7e-5a2f1c0b9e84";  // connected
inline constexpr std::string_view agency_down = "3d6f9a2b-8c4e-4f1a-b7d5-e0c9a8b6f321";  // disconnected
inline constexpr std::string_view tiny_main = "c2a1e7f4-5b3d-4e9a-8f6c-1d0b2a9e7c53";    // connecting
inline constexpr std::string_view tpl_welcome =
    "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b";  // {{name}} {{instance.name}}
inline constexpr std::string_view tpl_order = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d";  // {{name}} {{orderId}}
inline constexpr std::string_view tpl_broken = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b";  // valid = false
inline constexpr std::string_view tpl_loyalty =
    "b7c6d5e4-f3a2-4b1c-8d0e-9f8a7b6c5d4e";  // {{contact.firstName}}
inline constexpr std::string_view tpl_agency = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";
inline constexpr std::string_view unknown_uuid = "00000000-0000-4000-8000-000000000000";

// 2026-04-15 (a Wednesday) 10:00:00 UTC.
inline wall_time april_15() {
    using namespace std::chrono;
    return wall_time{sys_days{year{2026} / April / 15} + hours{10}};
}

class SimWorldTest : public ::testing::Test {
  protected:
    SimWorldTest() {
        cfg.limits.enabled = false;  // the limiter's own tests switch it on
        cfg.delivery.failed_share = 0;
    }

    world& w() {
        if (!world_) {
            world_ = std::make_unique<world>(cfg);
        }
        return *world_;
    }

    void advance(std::chrono::milliseconds d) {
        now += d;
        wall += d;
    }

    response call(std::string_view method, std::string_view target, std::optional<std::string_view> key,
                  std::string_view body = {}, std::optional<std::string_view> team = std::nullopt,
                  std::string_view content_type = "application/json", bool loopback = true) {
        request req;
        req.method = method;
        req.target = target;
        req.api_key = key;
        req.team_id = team;
        req.content_type = content_type;
        req.body = body;
        req.from_loopback = loopback;
        return w().handle(req, now, wall);
    }

    response get(std::string_view target, std::optional<std::string_view> key = shop_key,
                 std::optional<std::string_view> team = std::nullopt) {
        return call("GET", target, key, {}, team);
    }

    response post(std::string_view target, const json::value& body,
                  std::optional<std::string_view> key = shop_key,
                  std::optional<std::string_view> team = std::nullopt) {
        const auto text = json::serialize(body);
        return call("POST", target, key, text, team);
    }

    response control(std::string_view method, std::string_view target, const json::value& body = nullptr) {
        const auto text = body.is_null() ? std::string{} : json::serialize(body);
        return call(method, target, std::nullopt, text);
    }

    // A direct text send from the shop's main number.
    response send_text(std::string_view to = "+33611111111", std::string_view text = "hello",
                       std::string_view instance = shop_main,
                       std::optional<std::string_view> key = shop_key) {
        return post("/api/v1/messages/send",
                    json::object{{"instanceId", instance}, {"to", to}, {"type", "text"}, {"body", text}},
                    key);
    }

    static json::value parse(const response& r) { return json::parse(r.body); }
    static std::string code(const response& r) {
        const auto v = json::parse(r.body);
        const auto* c = v.as_object().if_contains("error");
        return c == nullptr ? std::string("<no error>") : std::string(c->at("code").as_string());
    }
    static json::value data(const response& r) { return json::parse(r.body).at("data"); }
    static std::string str(const json::value& v) { return std::string(v.as_string()); }
    // The "field" of every detail, joined with commas.
    static std::string detail_fields(const response& r) {
        std::string out;
        const auto doc = json::parse(r.body);
        for (const auto& d : doc.at("error").at("details").as_array()) {
            out += out.empty() ? "" : ",";
            out += d.at("field").as_string();
        }
        return out;
    }
    json::object account_stats(std::string_view account) {
        return w().stats().at("accounts").at(account).as_object();
    }
    std::int64_t stat(std::string_view account, std::string_view name) {
        return account_stats(account).at(name).to_number<std::int64_t>();
    }

    sim_config cfg = default_sim_config();
    steady_time now = steady_time{} + std::chrono::hours(1000);
    wall_time wall = april_15();

  private:
    std::unique_ptr<world> world_;
};

}  // namespace msgflash::sim::testing
