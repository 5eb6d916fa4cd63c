#include "admin/control_route.hpp"

#include <array>
#include <vector>

namespace msgflash::admin {

namespace {

int hex(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
    }
    return out;
}

route_result fail(unsigned status, std::string message) {
    return {.ok = std::nullopt, .error = {.status = status, .message = std::move(message)}};
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) {
                return std::nullopt;
            }
            const int hi = hex(s[i + 1]);
            const int lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') {
            return std::nullopt;
        }
        out += c;
    }
    return out;
}

route_result parse_route(std::string_view method, std::string_view target) {
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    const std::vector<std::string_view> s = segments(path);
    const bool get = method == "GET" || method == "HEAD";
    const bool post = method == "POST";

    if (s.size() == 1 && (s[0] == "healthz" || s[0] == "readyz" || s[0] == "metrics")) {
        if (!get) {
            return fail(405, "use GET");
        }
        const route_kind k = s[0] == "healthz"  ? route_kind::healthz
                             : s[0] == "readyz" ? route_kind::readyz
                                                : route_kind::metrics;
        return {.ok = route{.kind = k, .subject = {}}, .error = {}};
    }
    if (s.empty() || s[0] != "control") {
        return fail(404, "no such path");
    }
    if (!post) {
        return fail(405, "control calls are POST");
    }
    auto with_subject = [&](route_kind k, std::string_view raw) -> route_result {
        std::optional<std::string> subject = percent_decode(raw);
        if (!subject || subject->empty()) {
            return fail(400, "malformed path segment");
        }
        return {.ok = route{.kind = k, .subject = std::move(*subject)}, .error = {}};
    };
    if (s.size() == 4 && s[1] == "batches") {
        static constexpr std::array<std::pair<std::string_view, route_kind>, 4> verbs{{
            {"pause", route_kind::batch_pause},
            {"resume", route_kind::batch_resume},
            {"cancel", route_kind::batch_cancel},
            {"retry", route_kind::batch_retry},
        }};
        for (const auto& [name, kind] : verbs) {
            if (s[3] == name) {
                return with_subject(kind, s[2]);
            }
        }
        return fail(404, "no such batch call");
    }
    if (s.size() == 4 && (s[1] == "accounts" || s[1] == "instances") && s[3] == "resume") {
        return with_subject(s[1] == "accounts" ? route_kind::account_resume : route_kind::instance_resume,
                            s[2]);
    }
    if (s.size() == 4 && s[1] == "campaigns" && (s[3] == "pause" || s[3] == "resume")) {
        return with_subject(s[3] == "pause" ? route_kind::campaign_pause : route_kind::campaign_resume, s[2]);
    }
    if (s.size() == 2 && s[1] == "retry-dead") {
        return {.ok = route{.kind = route_kind::retry_dead, .subject = {}}, .error = {}};
    }
    if (s.size() == 2 && s[1] == "reconcile") {
        route r{.kind = route_kind::reconcile, .subject = {}};
        if (query.starts_with("batch=")) {
            std::optional<std::string> b = percent_decode(query.substr(6));
            if (!b) {
                return fail(400, "malformed batch");
            }
            r.subject = std::move(*b);
        } else if (!query.empty()) {
            return fail(400, "unknown query");
        }
        return {.ok = std::move(r), .error = {}};
    }
    return fail(404, "no such control call");
}

}  // namespace msgflash::admin
