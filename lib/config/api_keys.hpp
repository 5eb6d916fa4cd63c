// API keys: loading them from key_file, key_env or a systemd credential, checking them against the
// documented key rules before any request, and holding them so that they never reach a log line.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"

namespace msgflash {

inline constexpr std::string_view personal_key_prefix = "msgf_live_";  // docs: faq, personal workspace
inline constexpr std::string_view team_key_prefix = "msgf_team_";      // docs: faq, team workspace

struct api_key_result;

// A validated MsgFlash API key. The secret is only reachable through reveal(), for the one place that
// writes the x-api-key header; printing it through fmt/spdlog gives redacted(), and it cannot be streamed.
class api_key {
  public:
    api_key(const api_key& other) = default;
    api_key(api_key&& other) noexcept = default;
    api_key& operator=(const api_key& other);
    api_key& operator=(api_key&& other) noexcept;
    ~api_key();  // overwrites the secret (best effort: copies made by the HTTP layer are its own)

    // The secret, for the x-api-key header and nothing else.
    std::string_view reveal() const noexcept { return secret_; }
    // "msgf_live_…abcd": the prefix and, when the key is long enough to spare them, its last 4 characters.
    std::string redacted() const;
    bool is_team() const noexcept;
    // The X-Team-Id to send with a team key (lower-case UUID); empty for a personal key.
    const std::string& team_id() const noexcept { return team_id_; }

    friend bool operator==(const api_key& a, const api_key& b) noexcept {
        return a.secret_ == b.secret_ && a.team_id_ == b.team_id_;
    }
    // Streaming would write the secret; use redacted() (or fmt, which prints redacted()).
    friend std::ostream& operator<<(std::ostream&, const api_key&) = delete;

  private:
    friend api_key_result make_api_key(std::string secret, std::string_view team_id);
    api_key(std::string secret, std::string team_id)
        : secret_(std::move(secret)), team_id_(std::move(team_id)) {}
    void wipe() noexcept;

    std::string secret_;
    std::string team_id_;
};

// What went wrong with one account's key. Never contains the key.
struct api_key_error {
    std::string account;  // empty for make_api_key
    std::string source;  // "key_file /etc/msgflashd/keys/shop", "key_env SHOP_KEY", "credential /run/…/shop"
    std::string message;

    // account "shop": key_file /etc/msgflashd/keys/shop: mode 0644: must not be readable by others …
    std::string to_string() const;
};

// Exactly one of value / error is set.
struct api_key_result {
    std::optional<api_key> value;
    std::optional<api_key_error> error;

    bool ok() const noexcept { return value.has_value(); }
};

// Checks a key against the documented rules (prefix, printable ASCII, 16–256 characters) and its team
// pairing: a msgf_team_ key needs team_id (a UUID), a msgf_live_ key must have none (TEAM_KEY_REQUIRED).
api_key_result make_api_key(std::string secret, std::string_view team_id);

// Reads the environment; the real one is process_environment.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_environment(const std::string& name);

// $CREDENTIALS_DIRECTORY (systemd LoadCredential=), or empty when it is not set.
std::filesystem::path credentials_directory_from_environment();

// Loads an account's key from, in order: key_file (a regular file, not a symlink, mode without 0026, at
// most 4 KiB, trailing whitespace trimmed), key_env, else credentials_dir/<account name> when
// credentials_dir is not empty. Then make_api_key with the account's team_id.
api_key_result load_api_key(const account_config& account, const env_lookup& env,
                            const std::filesystem::path& credentials_dir);

struct api_keys_result {
    std::map<std::string, api_key, std::less<>> keys;  // by account name
    std::vector<api_key_error> errors;

    bool ok() const noexcept { return errors.empty(); }
};

// Every account's key. Two accounts with the same key are refused: they would share one rate budget.
api_keys_result load_api_keys(const config& c, const env_lookup& env,
                              const std::filesystem::path& credentials_dir);

}  // namespace msgflash

// fmt / spdlog print the redacted form: logging a key by mistake leaks nothing.
template <>
struct fmt::formatter<msgflash::api_key> : fmt::formatter<std::string_view> {
    template <typename FormatContext>
    auto format(const msgflash::api_key& key, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::formatter<std::string_view>::format(key.redacted(), ctx);
    }
};
