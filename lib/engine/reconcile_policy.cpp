#include "engine/reconcile_policy.hpp"

#include <algorithm>

#include "spool/job_validation.hpp"

namespace msgflash::engine {

namespace {

std::optional<timestamp> parse_time(const std::optional<std::string>& s) {
    if (!s) {
        return std::nullopt;
    }
    return spool::parse_iso8601(*s);
}

// A row without a final status: looked at again later, or given up past max_age.
store::delivery_update check_again(store::delivery_update u, const store::delivery_check& c, timestamp now,
                                   const reconcile_rules& rules) {
    u.next_check_at = next_check_at(c.sent_at, now, rules);
    if (!u.next_check_at) {
        u.settled = std::string(delivery_gave_up);
    }
    return u;
}

template <class T>
bool same_or_unset(const std::optional<T>& sent, const std::optional<T>& listed) {
    return !sent || sent == listed;
}

}  // namespace

bool is_final_delivery_status(std::string_view status) noexcept {
    return status == "delivered" || status == "read" || status == "failed";
}

std::optional<timestamp> next_check_at(timestamp sent_at, timestamp now, const reconcile_rules& rules) {
    const timestamp last = sent_at + rules.max_age;
    if (now >= last) {
        return std::nullopt;
    }
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - std::min(now, sent_at));
    const auto interval = std::clamp(age, rules.first_check, std::max(rules.first_check, rules.max_interval));
    return std::min(now + interval, last);
}

std::optional<timestamp> status_time(const api::message_details& m) {
    if (m.status == "read") {
        return parse_time(m.read_at);
    }
    if (m.status == "delivered") {
        return parse_time(m.delivered_at);
    }
    if (m.status == "failed") {
        return parse_time(m.failed_at);
    }
    if (m.status == "sent") {
        return parse_time(m.sent_at);
    }
    return std::nullopt;
}

bool past_max_age(const store::delivery_check& c, timestamp now, const reconcile_rules& rules) {
    return now >= c.sent_at + rules.max_age;
}

store::delivery_update delivery_from_message(const store::delivery_check& c, const api::message_details& m,
                                             timestamp now, const reconcile_rules& rules) {
    store::delivery_update u;
    u.job_id = c.job_id;
    u.status = m.status;
    u.status_at = status_time(m);
    u.checked_at = now;
    if (is_final_delivery_status(m.status)) {
        u.settled = m.status;
        return u;
    }
    return check_again(std::move(u), c, now, rules);
}

store::delivery_update delivery_from_campaign(const store::delivery_check& c, const api::campaign_stats& k,
                                              timestamp now, const reconcile_rules& rules) {
    const auto count = [](std::uint64_t n) { return static_cast<std::int64_t>(n); };
    store::delivery_update u;
    u.job_id = c.job_id;
    u.checked_at = now;
    u.campaign = store::campaign_counts{.campaign_id = c.message_id,
                                        .total = count(k.total),
                                        .pending = count(k.pending),
                                        .sent = count(k.sent),
                                        .delivered = count(k.delivered),
                                        .read = count(k.read),
                                        .failed = count(k.failed),
                                        .checked_at = now};
    if (k.pending == 0 && k.sent == 0) {
        u.status = std::string(campaign_completed);
        u.status_at = now;
        u.settled = u.status;
        return u;
    }
    u.status = std::string(campaign_running);
    return check_again(std::move(u), c, now, rules);
}

store::delivery_update delivery_unanswered(const store::delivery_check& c, timestamp now,
                                           const reconcile_rules& rules, bool not_found) {
    store::delivery_update u;
    u.job_id = c.job_id;
    u.checked_at = now;
    if (not_found) {
        u.settled = std::string(delivery_not_found);
        return u;
    }
    return check_again(std::move(u), c, now, rules);
}

bool matches(const api::message_details& m, const settle_target& t) {
    if ((!t.instance_id.empty() && m.instance_id != t.instance_id) || m.to != t.to) {
        return false;
    }
    const api::message_content& c = t.content;
    if (c.template_id) {
        // A template message is listed with its rendered body, which only the API renders: the template
        // names it.
        return m.template_id == c.template_id;
    }
    return !m.template_id && same_or_unset(c.type, m.type) && same_or_unset(c.body, m.body) &&
           same_or_unset(c.media_url, m.media_url);
}

page_scan scan_page(const api::message_page& page, const settle_target& t, const settle_rules& rules) {
    page_scan out;
    const timestamp horizon = t.attempt_started - rules.clock_margin;
    for (const api::message_details& m : page.messages) {
        // Newest first: once one message is older than the attempt, every later one is too — and the same
        // message sent before the attempt (an earlier campaign's) is not the attempt's.
        if (const auto created = parse_time(m.created_at); created && *created < horizon) {
            out.exhausted = true;
            return out;
        }
        if (matches(m, t)) {
            out.found = m;
            return out;
        }
    }
    out.exhausted = !page.has_more;
    return out;
}

void settle(store::job_result& r, settle_outcome outcome, const api::message_details* found) {
    r.attempt.settled = outcome;
    if (outcome != settle_outcome::found || found == nullptr) {
        return;
    }
    // The request went through; its answer was lost. The job is sent with the message it created.
    r.new_state = job_state::sent;
    r.attempt.message_id = found->id;
    r.api_status = found->status;
    r.next_attempt_at = std::nullopt;
    r.hold = std::nullopt;
    r.last_code.clear();
    r.count_send = true;
}

store::job_result sent_by_earlier(const store::claimed_job& j, const api::message_details& m, timestamp now) {
    store::job_result r;
    // The send happened when the message was created (the per-number counters and the report's send times
    // count it then); the API's clock, or now when it gave none.
    const timestamp at = parse_time(m.created_at).value_or(now);
    r.attempt.job_id = j.id;
    r.attempt.n = j.attempt;
    r.attempt.started_at = at;
    r.attempt.finished_at = at;
    r.attempt.message_id = m.id;
    r.attempt.outcome = attempt_outcome::sent;
    r.attempt.counted = false;
    r.new_state = job_state::sent;
    r.api_status = m.status;
    r.instance_id = m.instance_id.value_or(std::string());
    r.count_send = true;
    r.settles =
        store::earlier_settlement{.n = j.unsettled ? j.unsettled->n : 0, .outcome = settle_outcome::found};
    r.now = now;
    return r;
}

}  // namespace msgflash::engine
