// msgflashctl's command line (SPEC §8): global options, the verb and its own options, checked against one
// table of verbs. Pure: a usage error comes back as text (exit code 2), nothing is printed here.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace msgflash::ctl {

inline constexpr std::string_view default_config_path = "/etc/msgflashd/msgflashd.toml";

struct command_line {
    std::filesystem::path config = std::filesystem::path(default_config_path);
    bool json = false;
    bool help = false;
    bool version = false;
    std::string verb{};                            // "status", "campaign", …; empty with help/version only
    std::vector<std::string> positional{};         // after the verb ("campaign": {"pause", ID})
    std::map<std::string, std::string> options{};  // "--batch" → "B"
    std::set<std::string> flags{};                 // "--dead", "--strict"

    std::optional<std::string> option(std::string_view name) const;
    bool flag(std::string_view name) const { return flags.contains(std::string(name)); }
};

struct parse_result {
    std::optional<command_line> command{};
    std::string error{};  // set when command is empty: a usage error
};

// argv without the program name. Options may come before or after the verb, as "--name value" or
// "--name=value"; "--" ends the options (a batch id may begin with '-').
parse_result parse_command_line(std::span<const std::string_view> args);

// The usage text printed with --help and (to stderr) after a usage error.
std::string_view usage_text() noexcept;

}  // namespace msgflash::ctl
