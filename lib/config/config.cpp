#include "config/config.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <netinet/in.h>
#include <span>
#include <sstream>
#include <sys/un.h>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>

#include <toml++/toml.h>

#include "config/config_text.hpp"
#include "core/duration.hpp"

namespace msgflash {

using std::chrono::milliseconds;

std::string_view to_string(invalid_recipient_policy p) noexcept {
    switch (p) {
        case invalid_recipient_policy::skip:
            return "skip";
        case invalid_recipient_policy::reject_file:
            return "reject_file";
    }
    return "?";
}

std::string_view to_string(ambiguous_policy p) noexcept {
    switch (p) {
        case ambiguous_policy::retry:
            return "retry";
        case ambiguous_policy::hold:
            return "hold";
    }
    return "?";
}

std::string_view to_string(log_level l) noexcept {
    switch (l) {
        case log_level::trace:
            return "trace";
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warn:
            return "warn";
        case log_level::error:
            return "error";
        case log_level::critical:
            return "critical";
        case log_level::off:
            return "off";
    }
    return "?";
}

namespace {

// Brackets around an IPv6 literal, so that "host:port" stays readable.
std::string host_for_url(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

std::string http_origin::to_string() const {
    std::string out = tls ? "https://" : "http://";
    out += host_for_url(host);
    if (port != (tls ? 443 : 80)) {
        out += ':';
        out += std::to_string(port);
    }
    return out;
}

std::string listen_address::to_string() const {
    if (type == kind::unix_socket) {
        return "unix:" + path.string();
    }
    return host_for_url(host) + ":" + std::to_string(port);
}

const account_config* config::find_account(std::string_view name) const noexcept {
    for (const auto& a : accounts) {
        if (a.name == name) {
            return &a;
        }
    }
    return nullptr;
}

const instance_config* config::find_instance(std::string_view id) const noexcept {
    for (const auto& i : instances) {
        if (i.id == id) {
            return &i;
        }
    }
    return nullptr;
}

std::string config_error::to_string() const {
    std::string out = source;
    if (line != 0) {
        out += ':';
        out += std::to_string(line);
    }
    out += ": ";
    if (!key.empty()) {
        out += key;
        out += ": ";
    }
    out += message;
    return out;
}

std::optional<std::string> normalize_uuid(std::string_view text) {
    // 8-4-4-4-12 hex digits, as GET /api/v1/instances returns them.
    static constexpr std::array<std::size_t, 4> dashes{8, 13, 18, 23};
    if (text.size() != 36) {
        return std::nullopt;
    }
    std::string out(text);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const bool dash = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
        const auto c = static_cast<unsigned char>(out[i]);
        if (dash ? c != '-' : std::isxdigit(c) == 0) {
            return std::nullopt;
        }
        out[i] = static_cast<char>(std::tolower(c));
    }
    return out;
}

bool is_valid_account_name(std::string_view name) noexcept {
    // It names the systemd credential file, so nothing that could leave the directory.
    static constexpr std::size_t max_account_name = 64;
    if (name.empty() || name.size() > max_account_name || name.front() == '.') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
    });
}

namespace {

constexpr std::string_view duration_hint = R"((expected e.g. "250ms", "2s", "5m", "24h"))";

// ---- diagnostics -------------------------------------------------------------------------------------

class diagnostics {
  public:
    explicit diagnostics(std::string_view source) : source_(source) {}

    void error(const toml::source_region& where, std::string key, std::string message) {
        errors_.push_back(make(where, std::move(key), std::move(message)));
    }
    void warning(const toml::source_region& where, std::string key, std::string message) {
        warnings_.push_back(make(where, std::move(key), std::move(message)));
    }

    config_result finish(std::optional<config> value) && {
        // Cross-checks are found after the walk; report everything in file order, placeless ones last.
        const auto order = [](const config_error& a, const config_error& b) {
            return std::make_tuple(a.line == 0, a.line, a.column) <
                   std::make_tuple(b.line == 0, b.line, b.column);
        };
        std::stable_sort(errors_.begin(), errors_.end(), order);
        std::stable_sort(warnings_.begin(), warnings_.end(), order);
        config_result r;
        if (errors_.empty()) {
            r.value = std::move(value);
        }
        r.errors = std::move(errors_);
        r.warnings = std::move(warnings_);
        return r;
    }

  private:
    config_error make(const toml::source_region& where, std::string key, std::string message) const {
        return config_error{source_, where.begin.line, where.begin.column, std::move(key),
                            std::move(message)};
    }

    std::string source_;
    std::vector<config_error> errors_;
    std::vector<config_error> warnings_;
};

std::string_view type_name(toml::node_type t) {
    switch (t) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// "got integer 10", "got string \"x\"", "got a table".
std::string got(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string:
            return "got string " + quote(n.as_string()->get());
        case toml::node_type::integer:
            return "got integer " + std::to_string(n.as_integer()->get());
        case toml::node_type::floating_point: {
            std::ostringstream s;
            s << n.as_floating_point()->get();
            return "got float " + s.str();
        }
        case toml::node_type::boolean:
            return std::string("got boolean ") + (n.as_boolean()->get() ? "true" : "false");
        default:
            return "got " + std::string(type_name(n.type()));
    }
}

// ---- names ----------------------------------------------------------------------------------------------

bool is_bare_key(std::string_view k) {
    return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    });
}

std::string join_key(std::string_view parent, std::string_view key) {
    std::string out(parent);
    if (!out.empty()) {
        out += '.';
    }
    out += is_bare_key(key) ? std::string(key) : quote(key);
    return out;
}

// ---- one table at a time ---------------------------------------------------------------------------------

// Reads the keys of one table, remembering which ones were asked for so that the rest can be reported.
class table_reader {
  public:
    table_reader(const toml::table& table, std::string path, diagnostics& diag)
        : table_(table), path_(std::move(path)), diag_(diag) {}
    table_reader(const table_reader&) = delete;
    table_reader& operator=(const table_reader&) = delete;
    ~table_reader() = default;

    // The value under key, or nullptr; either way key is now a known key of this table.
    const toml::node* get(std::string_view key) {
        known_.emplace_back(key);
        return table_.get(key);
    }

    std::string path(std::string_view key) const { return join_key(path_, key); }
    const toml::table& table() const noexcept { return table_; }
    diagnostics& diag() noexcept { return diag_; }

    void error(const toml::node& at, std::string_view key, std::string message) {
        diag_.error(at.source(), path(key), std::move(message));
    }
    void warning(const toml::node& at, std::string_view key, std::string message) {
        diag_.warning(at.source(), path(key), std::move(message));
    }

    // Every key nobody asked for is a typo or a key in the wrong table.
    void report_unknown_keys() {
        for (auto&& [k, v] : table_) {
            if (std::find(known_.begin(), known_.end(), k.str()) != known_.end()) {
                continue;
            }
            std::string message = "unknown key";
            if (auto s = closest_match(k.str(), known_)) {
                message += "; did you mean " + quote(*s) + "?";
            }
            diag_.error(k.source(), path(k.str()), std::move(message));
        }
    }

  private:
    const toml::table& table_;
    std::string path_;
    diagnostics& diag_;
    std::vector<std::string> known_;
};

const toml::table* read_table(table_reader& r, std::string_view key) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return nullptr;
    }
    if (!n->is_table()) {
        r.error(*n, key, "expected a table ([" + std::string(key) + "]), " + got(*n));
        return nullptr;
    }
    return n->as_table();
}

// The string under key, or nullopt (absent or reported).
std::optional<std::string> read_string(table_reader& r, std::string_view key) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    if (!n->is_string()) {
        r.error(*n, key, "expected a string, " + got(*n));
        return std::nullopt;
    }
    const std::string& s = n->as_string()->get();
    if (s.find('\0') != std::string::npos) {
        r.error(*n, key, "must not contain a NUL character");
        return std::nullopt;
    }
    return s;
}

enum class duration_min { zero, positive };

// True when key is present and valid (then out holds it).
bool read_duration(table_reader& r, std::string_view key, milliseconds& out, duration_min min) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return false;
    }
    if (!n->is_string()) {
        r.error(*n, key, "expected a duration string such as \"" + format_duration(out) + "\", " + got(*n));
        return false;
    }
    const std::string& text = n->as_string()->get();
    const auto d = parse_duration(text);
    if (!d) {
        r.error(*n, key, "invalid duration " + quote(text) + " " + std::string(duration_hint));
        return false;
    }
    if (min == duration_min::positive && d->count() <= 0) {
        r.error(*n, key, "must be longer than 0s");
        return false;
    }
    out = *d;
    return true;
}

// True when key is present and valid (then out holds it).
template <typename Int>
bool read_integer(table_reader& r, std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return false;
    }
    if (!n->is_integer()) {
        r.error(*n, key, "expected an integer, " + got(*n));
        return false;
    }
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
        // A bound at the type's limit is no bound an operator thinks of; only name the one that matters.
        constexpr std::int64_t no_practical_max = std::numeric_limits<std::int32_t>::max();
        const std::string range = max >= no_practical_max
                                      ? "at least " + std::to_string(min)
                                      : "between " + std::to_string(min) + " and " + std::to_string(max);
        r.error(*n, key, "must be " + range + ", got " + std::to_string(v));
        return false;
    }
    out = static_cast<Int>(v);
    return true;
}

template <typename Int>
void read_optional_integer(table_reader& r, std::string_view key, std::optional<Int>& out, std::int64_t min,
                           std::int64_t max) {
    Int v{};
    if (read_integer(r, key, v, min, max)) {
        out = v;
    }
}

// A float that also accepts an integer ("factor = 2").
std::optional<double> read_number(table_reader& r, std::string_view key) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    double v = 0;
    if (n->is_floating_point()) {
        v = n->as_floating_point()->get();
    } else if (n->is_integer()) {
        v = static_cast<double>(n->as_integer()->get());
    } else {
        r.error(*n, key, "expected a number, " + got(*n));
        return std::nullopt;
    }
    if (!std::isfinite(v)) {
        r.error(*n, key, "must be a finite number");
        return std::nullopt;
    }
    return v;
}

template <typename Enum>
struct enum_name {
    std::string_view name;
    Enum value;
};

template <typename Enum, std::size_t N>
void read_enum(table_reader& r, std::string_view key, Enum& out,
               const std::array<enum_name<Enum>, N>& names) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return;
    }
    std::string expected;
    std::vector<std::string> candidates;
    for (std::size_t i = 0; i < N; ++i) {
        expected += (i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + quote(names[i].name);
        candidates.emplace_back(names[i].name);
    }
    if (!n->is_string()) {
        r.error(*n, key, "expected " + expected + ", " + got(*n));
        return;
    }
    const std::string& text = n->as_string()->get();
    for (const auto& e : names) {
        if (e.name == text) {
            out = e.value;
            return;
        }
    }
    std::string message = "invalid value " + quote(text) + " (expected " + expected + ")";
    if (auto s = closest_match(text, candidates)) {
        message += "; did you mean " + quote(*s) + "?";
    }
    r.error(*n, key, std::move(message));
}

std::filesystem::path resolve(const std::string& text, const std::filesystem::path& base_dir) {
    std::filesystem::path p(text);
    if (p.is_relative() && !base_dir.empty()) {
        p = base_dir / p;
    }
    return p.lexically_normal();
}

// A path; allow_empty: "" means "not set".
void read_path(table_reader& r, std::string_view key, std::filesystem::path& out,
               const std::filesystem::path& base_dir, bool allow_empty) {
    const auto text = read_string(r, key);
    if (!text) {
        return;
    }
    if (text->empty()) {
        if (allow_empty) {
            out.clear();
        } else {
            r.error(*r.table().get(key), key, "must not be empty");
        }
        return;
    }
    out = resolve(*text, base_dir);
}

// ---- hosts and URLs -------------------------------------------------------------------------------------

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return out;
}

bool is_hostname(std::string_view h) {
    // RFC 1123 labels; a trailing dot (fully qualified) is fine.
    if (!h.empty() && h.back() == '.') {
        h.remove_suffix(1);
    }
    if (h.empty() || h.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= h.size()) {
        const std::size_t end = std::min(h.find('.', start), h.size());
        const std::string_view label = h.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

bool looks_like_ipv4(std::string_view h) {
    return !h.empty() &&
           std::all_of(h.begin(), h.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// 127.0.0.0/8, ::1 and the name localhost: the only hosts where clear-text HTTP never leaves the machine.
bool is_loopback(const std::string& host) {
    const std::string h = lower(host);
    if (h == "localhost" || h == "localhost.") {
        return true;
    }
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        return std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
    }
    return false;
}

struct host_port {
    std::string host;
    std::optional<std::uint16_t> port;
};

// "host", "host:port", "[v6]", "[v6]:port" -> host (lower-case, no brackets) and port; or a message.
std::variant<host_port, std::string> split_host_port(std::string_view authority) {
    host_port out;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::string("unterminated IPv6 literal (missing \"]\")");
        }
        out.host = lower(authority.substr(1, close - 1));
        in6_addr v6{};
        if (inet_pton(AF_INET6, out.host.c_str(), &v6) != 1) {
            return "invalid IPv6 address " + quote(out.host);
        }
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return "unexpected " + quote(rest) + " after the IPv6 address";
            }
            has_port = true;
            port_text = rest.substr(1);
        }
    } else {
        const std::size_t colon = authority.find(':');
        if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos) {
            return std::string("an IPv6 address must be written in brackets, e.g. \"[::1]:9464\"");
        }
        out.host = lower(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        if (out.host.empty()) {
            return std::string("has no host");
        }
        if (looks_like_ipv4(out.host)) {
            in_addr v4{};
            if (inet_pton(AF_INET, out.host.c_str(), &v4) != 1) {
                return "invalid IPv4 address " + quote(out.host);
            }
        } else if (!is_hostname(out.host)) {
            return "invalid host name " + quote(out.host);
        }
    }
    if (has_port) {
        const bool digits =
            !port_text.empty() && port_text.size() <= 5 &&
            std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; });
        const long port = digits ? std::stol(std::string(port_text)) : -1;
        if (port < 0 || port > 65535) {
            return "invalid port " + quote(port_text) + " (expected 0-65535)";
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    return out;
}

std::variant<http_origin, std::string> parse_origin(std::string_view url) {
    http_origin o;
    const std::string lowered = lower(url.substr(0, std::min<std::size_t>(url.size(), 8)));
    std::string_view rest;
    if (lowered.starts_with("https://")) {
        o.tls = true;
        rest = url.substr(8);
    } else if (lowered.starts_with("http://")) {
        o.tls = false;
        rest = url.substr(7);
    } else {
        return std::string("must start with https:// (or http:// for a test server on this machine)");
    }
    const std::size_t end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    const std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (!tail.empty() && tail != "/") {
        return "must be only scheme, host and port: the daemon adds /api/v1/… itself (remove " + quote(tail) +
               ")";
    }
    if (authority.find('@') != std::string_view::npos) {
        return std::string("must not contain user information (\"user@\")");
    }
    auto hp = split_host_port(authority);
    if (auto* message = std::get_if<std::string>(&hp)) {
        return std::move(*message);
    }
    auto& parts = std::get<host_port>(hp);
    o.host = std::move(parts.host);
    o.port = parts.port.value_or(o.tls ? 443 : 80);
    if (o.port == 0) {
        return std::string("port 0 is not a port one can connect to");
    }
    if (!o.tls && !is_loopback(o.host)) {
        return "http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost): the API key would "
               "cross the network in clear text; use https://" +
               host_for_url(o.host);
    }
    return o;
}

std::variant<listen_address, std::string> parse_listen(std::string_view text,
                                                       const std::filesystem::path& base_dir) {
    listen_address a;
    if (text.starts_with("unix:")) {
        const std::string_view p = text.substr(5);
        if (p.empty()) {
            return std::string("\"unix:\" needs a socket path, e.g. \"unix:/run/msgflashd/admin.sock\"");
        }
        a.type = listen_address::kind::unix_socket;
        a.path = resolve(std::string(p), base_dir);
        // sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
        constexpr std::size_t max_socket_path = sizeof(sockaddr_un{}.sun_path) - 1;
        if (a.path.native().size() > max_socket_path) {
            return "socket path is " + std::to_string(a.path.native().size()) + " bytes; at most " +
                   std::to_string(max_socket_path) + " fit in a unix socket address";
        }
        return a;
    }
    auto hp = split_host_port(text);
    if (auto* message = std::get_if<std::string>(&hp)) {
        return std::move(*message);
    }
    auto& parts = std::get<host_port>(hp);
    if (!parts.port) {
        return std::string("expected \"host:port\" (e.g. \"127.0.0.1:9464\") or \"unix:/path\"");
    }
    a.type = listen_address::kind::tcp;
    a.host = std::move(parts.host);
    a.port = *parts.port;
    return a;
}

// ---- the sections ---------------------------------------------------------------------------------------

void read_api(table_reader& r, api_config& api, const std::filesystem::path& base_dir) {
    if (const auto url = read_string(r, "base_url")) {
        auto o = parse_origin(*url);
        if (auto* message = std::get_if<std::string>(&o)) {
            r.error(*r.table().get("base_url"), "base_url", quote(*url) + ": " + *message);
        } else {
            api.base_url = std::get<http_origin>(o);
        }
    }
    read_duration(r, "timeout", api.timeout, duration_min::positive);
    read_duration(r, "connect_timeout", api.connect_timeout, duration_min::positive);
    // More than a few thousand sockets for a 10 req/s budget is a typo, not a plan.
    read_integer(r, "max_connections", api.max_connections, 1, 65'535);
    read_path(r, "ca_file", api.ca_file, base_dir, true);
}

void read_spool(table_reader& r, spool_config& spool, const std::filesystem::path& base_dir) {
    read_path(r, "dir", spool.dir, base_dir, false);
    read_integer(r, "max_file_bytes", spool.max_file_bytes, 1, std::numeric_limits<std::int64_t>::max());
    static constexpr std::array<enum_name<invalid_recipient_policy>, 2> policies{
        {{"skip", invalid_recipient_policy::skip}, {"reject_file", invalid_recipient_policy::reject_file}}};
    read_enum(r, "on_invalid_recipient", spool.on_invalid_recipient, policies);
    read_integer(r, "max_line_bytes", spool.max_line_bytes, 1, std::numeric_limits<std::int64_t>::max());
    read_duration(r, "rescan_interval", spool.rescan_interval, duration_min::positive);
}

void read_retry(table_reader& r, retry_config& retry) {
    read_duration(r, "base", retry.base, duration_min::positive);
    if (const auto f = read_number(r, "factor")) {
        if (*f < 1.0) {
            r.error(*r.table().get("factor"), "factor",
                    "must be at least 1 (each wait at least as long as the last)");
        } else {
            retry.factor = *f;
        }
    }
    read_duration(r, "cap", retry.cap, duration_min::positive);
    read_integer(r, "max_attempts", retry.max_attempts, 1, std::numeric_limits<std::uint32_t>::max());
    read_duration(r, "max_age", retry.max_age, duration_min::positive);
    static constexpr std::array<enum_name<ambiguous_policy>, 2> policies{
        {{"retry", ambiguous_policy::retry}, {"hold", ambiguous_policy::hold}}};
    read_enum(r, "on_ambiguous", retry.on_ambiguous, policies);
    if (retry.cap < retry.base) {
        const toml::node* at = r.table().get("cap");
        r.error(at != nullptr ? *at : static_cast<const toml::node&>(r.table()), "cap",
                "must not be shorter than retry.base (" + format_duration(retry.base) + ")");
    }
}

// pacing.jitter_bound: a margin of half a second already costs a third of the key's rate.
constexpr milliseconds max_jitter_bound{500};

void read_pacing(table_reader& r, pacing_config& pacing) {
    read_duration(r, "per_recipient_gap", pacing.per_recipient_gap, duration_min::zero);
    if (const auto share = read_number(r, "housekeeping_share")) {
        if (*share <= 0.0 || *share >= 1.0) {
            r.error(*r.table().get("housekeeping_share"), "housekeeping_share",
                    "must be between 0 and 1, both excluded (a fraction of the key's requests per second)");
        } else {
            pacing.housekeeping_share = *share;
        }
    }
    read_duration(r, "instance_poll_interval", pacing.instance_poll_interval, duration_min::positive);
    read_duration(r, "health_poll_interval", pacing.health_poll_interval, duration_min::positive);
    if (read_duration(r, "jitter_bound", pacing.jitter_bound, duration_min::zero) &&
        pacing.jitter_bound >= max_jitter_bound) {
        r.error(*r.table().get("jitter_bound"), "jitter_bound",
                "must be shorter than " + format_duration(max_jitter_bound) +
                    " (the margin is taken from every one-second window of the key's rate)");
        pacing.jitter_bound = pacing_config{}.jitter_bound;
    }
}

void read_admin(table_reader& r, admin_config& admin, const std::filesystem::path& base_dir) {
    const auto text = read_string(r, "listen");
    if (!text) {
        return;
    }
    const toml::node& at = *r.table().get("listen");
    auto l = parse_listen(*text, base_dir);
    if (auto* message = std::get_if<std::string>(&l)) {
        r.error(at, "listen", quote(*text) + ": " + *message);
        return;
    }
    admin.listen = std::get<listen_address>(l);
    if (admin.listen.type == listen_address::kind::tcp && !is_loopback(admin.listen.host)) {
        r.warning(
            at, "listen",
            "not a loopback address: /metrics and the control endpoints (pause, cancel, retry) are reachable "
            "from other hosts");
    }
}

void read_log(table_reader& r, log_config& log) {
    static constexpr std::array<enum_name<log_level>, 7> levels{{{"trace", log_level::trace},
                                                                 {"debug", log_level::debug},
                                                                 {"info", log_level::info},
                                                                 {"warn", log_level::warn},
                                                                 {"error", log_level::error},
                                                                 {"critical", log_level::critical},
                                                                 {"off", log_level::off}}};
    read_enum(r, "level", log.level, levels);
}

const toml::array* read_array_of_tables(table_reader& r, std::string_view key) {
    const toml::node* n = r.get(key);
    if (n == nullptr) {
        return nullptr;
    }
    const toml::array* a = n->as_array();
    if (a == nullptr ||
        !std::all_of(a->begin(), a->end(), [](const toml::node& e) { return e.is_table(); })) {
        r.error(*n, key, "expected an array of tables ([[" + std::string(key) + "]]), " + got(*n));
        return nullptr;
    }
    return a;
}

void read_account(table_reader& r, account_config& account, const std::filesystem::path& base_dir) {
    if (const auto name = read_string(r, "name")) {
        if (is_valid_account_name(*name)) {
            account.name = *name;
        } else {
            r.error(
                *r.table().get("name"), "name",
                "invalid account name " + quote(*name) +
                    ": use 1-64 letters, digits, '_', '-' or '.', not starting with '.' (it also names the "
                    "systemd credential file)");
        }
    } else if (r.table().get("name") == nullptr) {
        r.diag().error(r.table().source(), r.path("name"), "missing: every account needs a name");
    }
    read_path(r, "key_file", account.key_file, base_dir, true);
    if (const auto env = read_string(r, "key_env")) {
        const bool valid =
            env->empty() ||
            ((std::isalpha(static_cast<unsigned char>(env->front())) != 0 || env->front() == '_') &&
             std::all_of(env->begin(), env->end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
             }));
        if (valid) {
            account.key_env = *env;
        } else {
            r.error(*r.table().get("key_env"), "key_env",
                    "invalid environment variable name " + quote(*env) +
                        " (expected e.g. \"MSGFLASH_SHOP_KEY\")");
        }
    }
    if (const auto team = read_string(r, "team_id")) {
        if (team->empty()) {
            account.team_id.clear();
        } else if (auto id = normalize_uuid(*team)) {
            account.team_id = std::move(*id);
        } else {
            r.error(*r.table().get("team_id"), "team_id",
                    "invalid team id " + quote(*team) +
                        " (expected a UUID like \"7c9e6679-7425-40de-944b-e07fc1f90ae7\")");
        }
    }
    read_integer(r, "rate", account.rate, 1, 1000);
    if (account.rate > documented_rate_per_key) {
        r.warning(
            *r.table().get("rate"), "rate",
            "above the documented " + std::to_string(documented_rate_per_key) +
                " requests/second per key: expect 429 API_RATE_LIMIT_EXCEEDED unless your plan allows more");
    }
    if (!account.key_file.empty() && !account.key_env.empty()) {
        r.error(
            *r.table().get("key_env"), "key_env",
            "key_file and key_env are both set: choose one source for the key (or neither, for the systemd "
            "credential named after the account)");
    }
}

void read_instance(table_reader& r, instance_config& instance) {
    if (const auto id = read_string(r, "id")) {
        if (auto uuid = normalize_uuid(*id)) {
            instance.id = std::move(*uuid);
        } else {
            r.error(*r.table().get("id"), "id",
                    "invalid instance id " + quote(*id) +
                        " (expected a UUID from GET /api/v1/instances, like "
                        "\"7c9e6679-7425-40de-944b-e07fc1f90ae7\")");
        }
    } else if (r.table().get("id") == nullptr) {
        r.diag().error(r.table().source(), r.path("id"),
                       "missing: every [[instances]] entry needs the number's id");
    }
    if (const auto account = read_string(r, "account")) {
        instance.account = *account;  // checked against [[accounts]] once they are all read
    }
    constexpr std::int64_t max_cap = std::numeric_limits<std::uint32_t>::max();
    read_optional_integer(r, "per_minute", instance.per_minute, 1, max_cap);
    read_optional_integer(r, "per_hour", instance.per_hour, 1, max_cap);
    read_optional_integer(r, "per_day", instance.per_day, 1, max_cap);
    milliseconds gap{0};
    if (read_duration(r, "min_interval", gap, duration_min::positive)) {
        instance.min_interval = gap;
    }
}

// Keys never belong in the file (SPEC §2); one pasted into any string value is refused wherever it is.
void refuse_pasted_keys(const toml::node& node, const std::string& path, diagnostics& diag) {
    if (const auto* t = node.as_table()) {
        for (auto&& [k, v] : *t) {
            refuse_pasted_keys(v, join_key(path, k.str()), diag);
        }
    } else if (const auto* a = node.as_array()) {
        for (std::size_t i = 0; i < a->size(); ++i) {
            refuse_pasted_keys(*a->get(i), path + "[" + std::to_string(i) + "]", diag);
        }
    } else if (const auto* s = node.as_string()) {
        if (looks_like_api_key(s->get())) {
            diag.error(
                node.source(), path,
                "looks like an API key: keys never go in the configuration file; use key_file, key_env or a "
                "systemd credential");
        }
    }
}

config read_document(const toml::table& root, diagnostics& diag, const std::filesystem::path& base_dir) {
    config c;
    refuse_pasted_keys(root, "", diag);
    table_reader r(root, "", diag);
    read_duration(r, "shutdown_grace", c.shutdown_grace, duration_min::zero);

    const auto section = [&](std::string_view name, auto&& read) {
        if (const toml::table* t = read_table(r, name)) {
            table_reader sub(*t, std::string(name), diag);
            read(sub);
            sub.report_unknown_keys();
        }
    };
    section("api", [&](table_reader& s) { read_api(s, c.api, base_dir); });
    section("spool", [&](table_reader& s) { read_spool(s, c.spool, base_dir); });
    section("queue", [&](table_reader& s) { read_path(s, "path", c.queue.path, base_dir, false); });
    section("retry", [&](table_reader& s) { read_retry(s, c.retry); });
    section("pacing", [&](table_reader& s) { read_pacing(s, c.pacing); });
    section("reconcile", [&](table_reader& s) {
        read_duration(s, "max_age", c.reconcile.max_age, duration_min::positive);
    });
    section("reports", [&](table_reader& s) {
        read_duration(s, "interval", c.reports.interval, duration_min::positive);
        read_duration(s, "min_rewrite_interval", c.reports.min_rewrite_interval, duration_min::zero);
    });
    section("admin", [&](table_reader& s) { read_admin(s, c.admin, base_dir); });
    section("log", [&](table_reader& s) { read_log(s, c.log); });

    // Where each entry's name was, for the duplicate check made once all are read.
    std::vector<toml::source_region> account_places;
    if (const toml::array* accounts = read_array_of_tables(r, "accounts")) {
        for (std::size_t i = 0; i < accounts->size(); ++i) {
            const toml::table& t = *accounts->get(i)->as_table();
            table_reader sub(t, "accounts[" + std::to_string(i) + "]", diag);
            account_config a;
            read_account(sub, a, base_dir);
            sub.report_unknown_keys();
            const toml::node* name = t.get("name");
            account_places.push_back(name != nullptr ? name->source() : t.source());
            c.accounts.push_back(std::move(a));
        }
    }
    if (c.accounts.empty()) {
        const toml::node* n = root.get("accounts");
        diag.error(n != nullptr ? n->source() : toml::source_region{}, "accounts",
                   "no [[accounts]]: at least one account (an API key) is needed to send anything");
    }
    for (std::size_t i = 0; i < c.accounts.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (!c.accounts[i].name.empty() && c.accounts[i].name == c.accounts[j].name) {
                diag.error(account_places[i], "accounts[" + std::to_string(i) + "].name",
                           "duplicate account name " + quote(c.accounts[i].name) + " (also accounts[" +
                               std::to_string(j) + "], line " + std::to_string(account_places[j].begin.line) +
                               ")");
                break;
            }
        }
    }

    if (const toml::array* instances = read_array_of_tables(r, "instances")) {
        std::vector<toml::source_region> places;
        std::vector<std::string> account_names;
        for (const auto& a : c.accounts) {
            account_names.push_back(a.name);
        }
        for (std::size_t i = 0; i < instances->size(); ++i) {
            const toml::table& t = *instances->get(i)->as_table();
            const std::string path = "instances[" + std::to_string(i) + "]";
            table_reader sub(t, path, diag);
            instance_config inst;
            read_instance(sub, inst);
            sub.report_unknown_keys();
            const toml::node* id = t.get("id");
            places.push_back(id != nullptr ? id->source() : t.source());
            if (!inst.account.empty() && c.find_account(inst.account) == nullptr) {
                std::string message = "unknown account " + quote(inst.account);
                if (auto s = closest_match(inst.account, account_names)) {
                    message += "; did you mean " + quote(*s) + "?";
                }
                diag.error(t.get("account")->source(), path + ".account", std::move(message));
            }
            for (std::size_t j = 0; j < c.instances.size(); ++j) {
                if (!inst.id.empty() && inst.id == c.instances[j].id) {
                    diag.error(places[i], path + ".id",
                               "duplicate instance id (also instances[" + std::to_string(j) + "], line " +
                                   std::to_string(places[j].begin.line) + ")");
                    break;
                }
            }
            c.instances.push_back(std::move(inst));
        }
    }
    r.report_unknown_keys();
    return c;
}

}  // namespace

config_result parse_config(std::string_view toml_text, std::string_view source_name,
                           const std::filesystem::path& base_dir) {
    diagnostics diag(source_name);
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        diag.error(e.source(), "", "TOML syntax error: " + std::string(e.description()));
        return std::move(diag).finish(std::nullopt);
    }
    config c = read_document(root, diag, base_dir);
    return std::move(diag).finish(std::move(c));
}

config_result load_config(const std::filesystem::path& path) {
    // A configuration is a page or two; anything this big is the wrong file.
    constexpr std::uintmax_t max_config_bytes = 1 << 20;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        config_result r;
        r.errors.push_back({path.string(), 0, 0, "", "cannot open: " + std::generic_category().message(err)});
        return r;
    }
    std::string text;
    text.resize(max_config_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) {
        config_result r;
        r.errors.push_back({path.string(), 0, 0, "", "read error"});
        return r;
    }
    if (text.size() > max_config_bytes) {
        config_result r;
        r.errors.push_back({path.string(), 0, 0, "", "larger than 1 MiB: not a configuration file"});
        return r;
    }
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
    return parse_config(text, path.string(), dir);
}

}  // namespace msgflash
