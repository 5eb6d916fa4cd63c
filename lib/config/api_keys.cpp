#include "config/api_keys.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include "config/config_text.hpp"

namespace msgflash {

namespace {

// A key is a few dozen characters; the bounds catch a truncated paste or the wrong file.
constexpr std::size_t min_key_length = 16;
constexpr std::size_t max_key_length = 256;
// One key and a newline; anything bigger is not a key file.
constexpr std::size_t max_key_file_bytes = 4096;
// Group write, other read, other write: anyone but the owner (and a reading group) could see or swap the key.
constexpr mode_t forbidden_key_mode = 0026;
// redacted() shows the last characters only when enough stay hidden.
constexpr std::size_t redacted_tail = 4;
constexpr std::size_t min_body_for_tail = 12;

void trim_trailing_whitespace(std::string& s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n' ||
                          s.back() == '\v' || s.back() == '\f')) {
        s.pop_back();
    }
}

void wipe_string(std::string& s) noexcept {
    if (!s.empty()) {
        ::explicit_bzero(s.data(), s.size());
    }
}

std::string octal_mode(mode_t mode) {
    std::array<char, 8> buf{};
    std::snprintf(buf.data(), buf.size(), "%04o", static_cast<unsigned>(mode & 07777));
    return buf.data();
}

class unique_fd {
  public:
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const noexcept { return fd_; }

  private:
    int fd_;
};

struct file_read {
    std::optional<std::string> text;
    std::string error;
    bool not_found = false;
};

// Reads a secret file the way a key must be kept: a regular file reached without a symlink, not readable
// by others nor writable by anyone but its owner, small.
file_read read_secret_file(const std::filesystem::path& path) {
    file_read out;
    // O_NONBLOCK: opening a FIFO must not hang the daemon; fstat then refuses it.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ELOOP) {
            out.error = "is a symbolic link: refused (point to the key file itself)";
        } else if (err == ENOENT) {
            out.error = "does not exist";
            out.not_found = true;
        } else if (err == EACCES) {
            out.error = "permission denied (the daemon's user must be able to read it)";
        } else {
            out.error = "cannot open: " + std::generic_category().message(err);
        }
        return out;
    }
    const unique_fd guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        out.error = "cannot stat: " + std::generic_category().message(errno);
        return out;
    }
    if (S_ISDIR(st.st_mode)) {
        out.error = "is a directory, not a key file";
        return out;
    }
    if (!S_ISREG(st.st_mode)) {
        out.error = "is not a regular file";
        return out;
    }
    if ((st.st_mode & forbidden_key_mode) != 0) {
        out.error = "mode " + octal_mode(st.st_mode) +
                    ": must not be readable by others or writable by group/others (chmod 0600 or 0640)";
        return out;
    }
    if (static_cast<std::uintmax_t>(st.st_size) > max_key_file_bytes) {
        out.error = "is " + std::to_string(st.st_size) + " bytes: a key file holds one key (at most " +
                    std::to_string(max_key_file_bytes) + " bytes)";
        return out;
    }
    std::array<char, max_key_file_bytes + 1> buf{};
    std::size_t used = 0;
    while (used < buf.size()) {
        const ssize_t n = ::read(fd, buf.data() + used, buf.size() - used);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int err = errno;
            ::explicit_bzero(buf.data(), buf.size());
            out.error = "read error: " + std::generic_category().message(err);
            return out;
        }
        if (n == 0) {
            break;
        }
        used += static_cast<std::size_t>(n);
    }
    if (used > max_key_file_bytes) {
        ::explicit_bzero(buf.data(), buf.size());
        out.error = "grew past " + std::to_string(max_key_file_bytes) + " bytes while being read";
        return out;
    }
    std::string text(buf.data(), used);
    ::explicit_bzero(buf.data(), buf.size());
    trim_trailing_whitespace(text);
    if (text.empty()) {
        out.error = "is empty";
        return out;
    }
    out.text = std::move(text);
    return out;
}

api_key_result failure(const account_config& account, std::string source, std::string message) {
    api_key_result r;
    r.error = api_key_error{account.name, std::move(source), std::move(message)};
    return r;
}

}  // namespace

api_key& api_key::operator=(const api_key& other) {
    if (this != &other) {
        wipe();
        secret_ = other.secret_;
        team_id_ = other.team_id_;
    }
    return *this;
}

api_key& api_key::operator=(api_key&& other) noexcept {
    if (this != &other) {
        wipe();
        secret_ = std::move(other.secret_);
        team_id_ = std::move(other.team_id_);
    }
    return *this;
}

api_key::~api_key() {
    wipe();
}

void api_key::wipe() noexcept {
    wipe_string(secret_);
}

std::string api_key::redacted() const {
    const std::string_view prefix = is_team() ? team_key_prefix : personal_key_prefix;
    std::string out(prefix);
    out += "…";
    if (secret_.size() >= prefix.size() + min_body_for_tail) {
        out += secret_.substr(secret_.size() - redacted_tail);
    }
    return out;
}

bool api_key::is_team() const noexcept {
    return std::string_view(secret_).starts_with(team_key_prefix);
}

std::string api_key_error::to_string() const {
    std::string out;
    if (!account.empty()) {
        out += "account \"" + account + "\": ";
    }
    if (!source.empty()) {
        out += source + ": ";
    }
    out += message;
    return out;
}

api_key_result make_api_key(std::string secret, std::string_view team_id) {
    api_key_result r;
    const auto fail = [&](std::string message) {
        wipe_string(secret);
        r.error = api_key_error{"", "", std::move(message)};
        return std::move(r);
    };
    if (secret.empty()) {
        return fail("the key is empty");
    }
    const std::string_view s(secret);
    const bool team = s.starts_with(team_key_prefix);
    if (!team && !s.starts_with(personal_key_prefix)) {
        return fail(
            "not a MsgFlash API key: it must start with msgf_live_ (personal key) or msgf_team_ (team key)");
    }
    const auto bad = std::find_if(s.begin(), s.end(), [](char c) { return c < '!' || c > '~'; });
    if (bad != s.end()) {
        return fail("the key contains whitespace, a control or a non-ASCII character (at offset " +
                    std::to_string(bad - s.begin()) + "); keys are printable ASCII");
    }
    if (s.size() < min_key_length || s.size() > max_key_length) {
        return fail("the key is " + std::to_string(s.size()) + " characters long; expected " +
                    std::to_string(min_key_length) + " to " + std::to_string(max_key_length) +
                    " (truncated copy or wrong file?)");
    }
    std::string team_uuid;
    if (!team_id.empty()) {
        auto id = normalize_uuid(team_id);
        if (!id) {
            return fail("team_id " + quote(team_id) + " is not a UUID");
        }
        team_uuid = std::move(*id);
    }
    if (team && team_uuid.empty()) {
        return fail(
            "a team key (msgf_team_…) needs the account's team_id: team keys must send X-Team-Id matching "
            "their "
            "team (docs: Team workspace)");
    }
    if (!team && !team_uuid.empty()) {
        return fail(
            "a personal key (msgf_live_…) must not have a team_id: a personal key sent with X-Team-Id is "
            "refused "
            "with 403 TEAM_KEY_REQUIRED; remove team_id or use the team's msgf_team_ key");
    }
    r.value.emplace(api_key(std::move(secret), std::move(team_uuid)));
    return r;
}

std::optional<std::string> process_environment(const std::string& name) {
    const char* v =
        std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start and SIGHUP only
    if (v == nullptr) {
        return std::nullopt;
    }
    return std::string(v);
}

std::filesystem::path credentials_directory_from_environment() {
    auto dir = process_environment("CREDENTIALS_DIRECTORY");
    return dir ? std::filesystem::path(*dir) : std::filesystem::path();
}

api_key_result load_api_key(const account_config& account, const env_lookup& env,
                            const std::filesystem::path& credentials_dir) {
    std::string source;
    std::string secret;
    if (!account.key_file.empty() && !account.key_env.empty()) {
        return failure(account, "", "key_file and key_env are both set: choose one source for the key");
    }
    if (!account.key_file.empty()) {
        source = "key_file " + account.key_file.string();
        auto f = read_secret_file(account.key_file);
        if (!f.text) {
            return failure(account, source, f.error);
        }
        secret = std::move(*f.text);
    } else if (!account.key_env.empty()) {
        source = "key_env " + account.key_env;
        auto v = env ? env(account.key_env) : std::nullopt;
        if (!v) {
            return failure(account, source, "environment variable " + account.key_env + " is not set");
        }
        secret = std::move(*v);
        trim_trailing_whitespace(secret);
        if (secret.empty()) {
            return failure(account, source, "environment variable " + account.key_env + " is empty");
        }
    } else {
        const std::string tried = "key_file and key_env are not set, ";
        if (credentials_dir.empty()) {
            return failure(account, "",
                           "no API key: " + tried +
                               "and $CREDENTIALS_DIRECTORY is not set (no systemd credential named \"" +
                               account.name + "\"; see LoadCredential= in msgflashd.service)");
        }
        const std::filesystem::path path = credentials_dir / account.name;
        source = "credential " + path.string();
        auto f = read_secret_file(path);
        if (!f.text) {
            if (f.not_found) {
                return failure(account, "",
                               "no API key: " + tried + "and there is no systemd credential " +
                                   path.string() + " (LoadCredential=" + account.name +
                                   ":… in msgflashd.service)");
            }
            return failure(account, source, f.error);
        }
        secret = std::move(*f.text);
    }
    auto r = make_api_key(std::move(secret), account.team_id);
    if (r.error) {
        r.error->account = account.name;
        r.error->source = source;
    }
    return r;
}

api_keys_result load_api_keys(const config& c, const env_lookup& env,
                              const std::filesystem::path& credentials_dir) {
    api_keys_result out;
    for (const auto& account : c.accounts) {
        auto r = load_api_key(account, env, credentials_dir);
        if (!r.value) {
            out.errors.push_back(std::move(*r.error));
            continue;
        }
        const auto same = std::find_if(out.keys.begin(), out.keys.end(), [&](const auto& entry) {
            return entry.second.reveal() == r.value->reveal();
        });
        if (same != out.keys.end()) {
            out.errors.push_back({account.name, "",
                                  "uses the same API key as account \"" + same->first +
                                      "\": the rate limit is per key, so together they would exceed it; "
                                      "configure the key once"});
            continue;
        }
        out.keys.emplace(account.name, std::move(*r.value));
    }
    return out;
}

}  // namespace msgflash
