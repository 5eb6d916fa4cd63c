// The verbs that change something: each is one POST to the daemon's admin endpoint (docs/admin-api.md);
// the answer's fields are printed, an error's code and message go to stderr with exit code 1.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "daemon/ctl_admin_client.hpp"
#include "daemon/ctl_commands.hpp"

namespace msgflash::ctl {

namespace json = boost::json;

namespace {

struct call_plan {
    std::string target;   // the request target, encoded
    std::string subject;  // for messages: "batch b1", "account shop"
};

// The request for the command line (already checked by parse_command_line); an error text when an argument
// is wrong in a way the parser does not know (a number that is not a UUID).
std::variant<call_plan, std::string> plan_for(const command_line& c) {
    const std::string& v = c.verb;
    if (v == "pause" || v == "cancel" || (v == "resume" && !c.positional.empty()) ||
        (v == "retry" && !c.positional.empty())) {
        const std::string& b = c.positional[0];
        return call_plan{fmt::format("/control/batches/{}/{}", percent_encode(b), v),
                         fmt::format("batch \"{}\"", b)};
    }
    if (v == "retry") {
        return call_plan{"/control/retry-dead", "every batch with dead jobs"};
    }
    if (v == "resume" && c.option("--account")) {
        const std::string a = *c.option("--account");
        return call_plan{fmt::format("/control/accounts/{}/resume", percent_encode(a)),
                         fmt::format("account \"{}\"", a)};
    }
    if (v == "resume") {
        const std::string raw = *c.option("--instance");
        auto id = normalize_uuid(raw);
        if (!id) {
            return fmt::format("--instance: \"{}\" is not a number's id (a UUID)", raw);
        }
        return call_plan{fmt::format("/control/instances/{}/resume", *id), fmt::format("number {}", *id)};
    }
    if (v == "campaign") {
        const std::string& id = c.positional[1];
        return call_plan{fmt::format("/control/campaigns/{}/{}", percent_encode(id), c.positional[0]),
                         fmt::format("campaign {}", id)};
    }
    // reconcile [BATCH]
    if (c.positional.empty()) {
        return call_plan{"/control/reconcile", "every batch"};
    }
    return call_plan{fmt::format("/control/reconcile?batch={}", percent_encode(c.positional[0])),
                     fmt::format("batch \"{}\"", c.positional[0])};
}

std::string field_text(const json::value& v) {
    if (v.is_string()) {
        return std::string(v.get_string());
    }
    return json::serialize(v);
}

}  // namespace

int run_control(const context& ctx) {
    auto planned = plan_for(ctx.cmd);
    if (auto* e = std::get_if<std::string>(&planned)) {
        fmt::print(ctx.err, "msgflashctl: {}\n", *e);
        return exit_usage;
    }
    const call_plan& plan = std::get<call_plan>(planned);
    const admin_endpoint endpoint = find_admin_endpoint(ctx.cfg);
    if (endpoint.address.type == listen_address::kind::tcp && endpoint.address.port == 0) {
        fmt::print(ctx.err,
                   "msgflashctl: the daemon is not reachable: admin.listen has port 0 and {} does not exist "
                   "(is msgflashd running?)\n",
                   (ctx.cfg.queue.path.parent_path() / "admin.address").string());
        return exit_failure;
    }
    const admin_call call = admin_post(endpoint, plan.target);
    if (!call.answer) {
        fmt::print(ctx.err, "msgflashctl: the daemon is not reachable ({}): {}\n", endpoint.where,
                   call.error);
        return exit_failure;
    }
    const admin_answer& a = *call.answer;
    boost::system::error_code ec;
    json::value body = json::parse(a.body, ec);
    if (a.status == 200 && !ec && body.is_object()) {
        if (ctx.cmd.json) {
            fmt::print(ctx.out, "{}\n", json::serialize(body));
            return exit_ok;
        }
        std::string fields;
        for (const auto& [k, val] : body.get_object()) {
            if (k != "ok") {
                fields +=
                    fmt::format("{}{}={}", fields.empty() ? "" : " ", std::string_view(k), field_text(val));
            }
        }
        fmt::print(ctx.out, "{} {}: ok{}{}\n",
                   ctx.cmd.verb == "campaign" ? "campaign " + ctx.cmd.positional[0] : ctx.cmd.verb,
                   plan.subject, fields.empty() ? "" : ", ", fields);
        return exit_ok;
    }
    std::string code = fmt::format("HTTP {}", a.status);
    std::string message = a.body.substr(0, 200);
    if (!ec && body.is_object()) {
        if (const auto* err = body.get_object().if_contains("error"); err != nullptr && err->is_object()) {
            if (const auto* c = err->get_object().if_contains("code"); c != nullptr && c->is_string()) {
                code = std::string(c->get_string());
            }
            if (const auto* m = err->get_object().if_contains("message"); m != nullptr && m->is_string()) {
                message = std::string(m->get_string());
            }
        }
    }
    if (ctx.cmd.json) {
        fmt::print(ctx.out, "{}\n",
                   !ec ? json::serialize(body)
                       : json::serialize(
                             json::object{{"error", json::object{{"code", code}, {"message", message}}}}));
    }
    fmt::print(ctx.err, "msgflashctl: {} {}: {} {}{}\n", ctx.cmd.verb, plan.subject, a.status, code,
               message.empty() ? "" : ": " + message);
    if (a.status == 401) {
        fmt::print(ctx.err, "msgflashctl: the admin token is {}\n",
                   endpoint.token.empty() ? "unreadable (" + endpoint.token_note + ")" : "not accepted");
    }
    return exit_failure;
}

}  // namespace msgflash::ctl
