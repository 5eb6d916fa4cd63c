// The MsgFlash API's documented error codes (docs: error-codes.txt) as data: code, HTTP status, meaning.
// One enum value per documented code, an error_category for them, and lookups by name.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace msgflash {

// Keep in the order of the rows in api_errors.cpp (the enum is the row index).
enum class api_errc {
    // Authentication and API quotas
    unauthorized = 1,
    forbidden,
    subscription_inactive,
    api_rate_limit_exceeded,
    monthly_api_request_quota_exceeded,
    // Plan limits
    max_instances_reached,
    api_keys_not_available_on_plan,
    max_api_keys_reached,
    webhooks_not_available_on_plan,
    max_webhook_endpoints_reached,
    campaigns_not_available_on_plan,
    statuses_not_available_on_plan,
    max_contact_groups_reached,
    feature_not_available_on_plan,
    // Messages, templates and validation
    validation_error,
    bad_request,
    template_invalid,
    template_variables_missing,
    template_context_unavailable,
    invalid_destination,
    // General
    not_found,
    conflict,
    internal_error,
    provider_timeout,
    provider_unavailable,
    provider_error,
    // Teams and workspaces
    team_key_required,
    team_key_not_allowed,
    team_not_found,
    team_access_denied,
    team_feature_unavailable,
    team_limit_reached,
    team_seat_limit_reached,
    instance_not_assigned,
    invite_invalid_or_expired,
    invite_email_mismatch,
    invite_duplicate_member,
    plan_change_blocked_active_teams,
    // Console-only (JWT routes); listed for completeness, never expected on /api/v1
    billing_payments_team_owner_only,
    billing_team_mutation_forbidden,
    // A code the documentation does not list. Not a table row.
    unknown_code,
    // Also used by campaigns-create.txt: "403 UNSUPPORTED_FEATURE" (not in error-codes.txt).
    unsupported_feature,
};

struct api_error_info {
    api_errc errc;
    std::string_view code;     // as it appears in {"error":{"code":…}}
    unsigned http_status;      // the documented status
    std::string_view message;  // a short English message, as the simulator sends it
};

// Every documented code, in the documentation's order (plus UNSUPPORTED_FEATURE from campaigns-create.txt).
std::span<const api_error_info> api_error_table();

// The row for a code string; nullopt for a code the documentation does not list.
std::optional<api_error_info> find_api_error(std::string_view code);

// The row for an enum value; api_errc::unknown_code has none.
const api_error_info& api_error(api_errc e);

const std::error_category& api_error_category();
std::error_code make_error_code(api_errc e);

}  // namespace msgflash

template <>
struct std::is_error_code_enum<msgflash::api_errc> : std::true_type {};
