#include "core/api_errors.hpp"

#include <array>
#include <string>

namespace msgflash {
namespace {

using enum api_errc;

// docs: msgflash-docs/error-codes.txt, row by row; UNSUPPORTED_FEATURE from campaigns-create.txt.
constexpr std::array<api_error_info, 41> table{{
    {unauthorized, "UNAUTHORIZED", 401, "API key missing, invalid, or revoked"},
    {forbidden, "FORBIDDEN", 403, "Resource not accessible with this key"},
    {subscription_inactive, "SUBSCRIPTION_INACTIVE", 403,
     "The account has no usable subscription for this action"},
    {api_rate_limit_exceeded, "API_RATE_LIMIT_EXCEEDED", 429, "Too many API requests"},
    {monthly_api_request_quota_exceeded, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", 429,
     "Monthly API request quota exhausted"},
    {max_instances_reached, "MAX_INSTANCES_REACHED", 403, "Instance limit reached"},
    {api_keys_not_available_on_plan, "API_KEYS_NOT_AVAILABLE_ON_PLAN", 403,
     "API keys unavailable on the current plan"},
    {max_api_keys_reached, "MAX_API_KEYS_REACHED", 403, "API key limit reached"},
    {webhooks_not_available_on_plan, "WEBHOOKS_NOT_AVAILABLE_ON_PLAN", 403,
     "Webhooks unavailable on the current plan"},
    {max_webhook_endpoints_reached, "MAX_WEBHOOK_ENDPOINTS_REACHED", 403, "Webhook endpoint limit reached"},
    {campaigns_not_available_on_plan, "CAMPAIGNS_NOT_AVAILABLE_ON_PLAN", 403,
     "Campaigns unavailable on the current plan"},
    {statuses_not_available_on_plan, "STATUSES_NOT_AVAILABLE_ON_PLAN", 403,
     "WhatsApp statuses unavailable on the current plan"},
    {max_contact_groups_reached, "MAX_CONTACT_GROUPS_REACHED", 403, "Contact group limit reached"},
    {feature_not_available_on_plan, "FEATURE_NOT_AVAILABLE_ON_PLAN", 403,
     "Feature unavailable on the current plan"},
    {validation_error, "VALIDATION_ERROR", 400, "Body does not match the expected schema"},
    {bad_request, "BAD_REQUEST", 400, "Invalid request"},
    {template_invalid, "TEMPLATE_INVALID", 400, "Invalid placeholder or inconsistent template"},
    {template_variables_missing, "TEMPLATE_VARIABLES_MISSING", 400,
     "One or more required variables could not be resolved"},
    {template_context_unavailable, "TEMPLATE_CONTEXT_UNAVAILABLE", 400,
     "Requested context is not available (instance or contact)"},
    {invalid_destination, "INVALID_DESTINATION", 422, "Invalid recipient number"},
    {not_found, "NOT_FOUND", 404, "Resource does not exist or is outside your account"},
    {conflict, "CONFLICT", 409, "Uniqueness conflict"},
    {internal_error, "INTERNAL_ERROR", 500, "Server error"},
    {provider_timeout, "PROVIDER_TIMEOUT", 502, "WhatsApp provider timeout"},
    {provider_unavailable, "PROVIDER_UNAVAILABLE", 502, "Provider temporarily unavailable"},
    {provider_error, "PROVIDER_ERROR", 502, "Generic provider error"},
    {team_key_required, "TEAM_KEY_REQUIRED", 403, "Personal API key used with X-Team-Id"},
    {team_key_not_allowed, "TEAM_KEY_NOT_ALLOWED", 403, "Team API key used on a personal-only route"},
    {team_not_found, "TEAM_NOT_FOUND", 404, "X-Team-Id is not a team you currently belong to"},
    {team_access_denied, "TEAM_ACCESS_DENIED", 403, "The role is not allowed for this action"},
    {team_feature_unavailable, "TEAM_FEATURE_UNAVAILABLE", 403,
     "Account plan does not include team creation"},
    {team_limit_reached, "TEAM_LIMIT_REACHED", 403, "Maximum number of teams reached"},
    {team_seat_limit_reached, "TEAM_SEAT_LIMIT_REACHED", 403,
     "Team already has the maximum number of members"},
    {instance_not_assigned, "INSTANCE_NOT_ASSIGNED", 403, "Instance not assigned to this collaborator"},
    {invite_invalid_or_expired, "INVITE_INVALID_OR_EXPIRED", 400, "Invitation unknown, used or expired"},
    {invite_email_mismatch, "INVITE_EMAIL_MISMATCH", 403, "User email does not match the invited address"},
    {invite_duplicate_member, "INVITE_DUPLICATE_MEMBER", 409, "Invitee is already an active member"},
    {plan_change_blocked_active_teams, "PLAN_CHANGE_BLOCKED_ACTIVE_TEAMS", 409,
     "The new plan cannot host the current teams or seats"},
    {billing_payments_team_owner_only, "BILLING_PAYMENTS_TEAM_OWNER_ONLY", 403,
     "Team payment history is reserved to the team owner"},
    {billing_team_mutation_forbidden, "BILLING_TEAM_MUTATION_FORBIDDEN", 403,
     "Billing mutations are reserved to the team owner"},
    {unsupported_feature, "UNSUPPORTED_FEATURE", 403, "Unsupported feature"},
}};

class api_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "msgflash-api"; }
    std::string message(int ev) const override {
        if (ev == static_cast<int>(unknown_code)) {
            return "undocumented API error code";
        }
        for (const auto& row : table) {
            if (static_cast<int>(row.errc) == ev) {
                return std::string(row.code);
            }
        }
        return "unknown msgflash-api error";
    }
};

}  // namespace

std::span<const api_error_info> api_error_table() {
    return table;
}

std::optional<api_error_info> find_api_error(std::string_view code) {
    for (const auto& row : table) {
        if (row.code == code) {
            return row;
        }
    }
    return std::nullopt;
}

const api_error_info& api_error(api_errc e) {
    for (const auto& row : table) {
        if (row.errc == e) {
            return row;
        }
    }
    static constexpr api_error_info unknown{unknown_code, "UNKNOWN", 0, "undocumented API error code"};
    return unknown;
}

const std::error_category& api_error_category() {
    static const api_category category;
    return category;
}

std::error_code make_error_code(api_errc e) {
    return {static_cast<int>(e), api_error_category()};
}

}  // namespace msgflash
