#include "engine/result_decision.hpp"

#include <algorithm>

namespace msgflash::engine {

using std::chrono::milliseconds;

retry_rules make_retry_rules(const retry_config& c) {
    return {.backoff = {.base = c.base,
                        .factor = c.factor,
                        .cap = c.cap,
                        .max_attempts = c.max_attempts,
                        .max_age = c.max_age},
            .on_ambiguous = c.on_ambiguous};
}

timestamp next_billing_period(timestamp now) {
    using namespace std::chrono;
    const year_month_day day{floor<days>(now)};
    const year_month next = year_month{day.year(), day.month()} + months{1};
    return timestamp{sys_days{next / 1}.time_since_epoch()};
}

namespace {

attempt_outcome outcome_of(const verdict& v) {
    switch (v.act) {
        case action::sent:
            return attempt_outcome::sent;
        case action::rate_limited:
            return attempt_outcome::rate_limited;
        case action::hold_key:
        case action::hold_number:
            return attempt_outcome::held;
        case action::fail:
            return attempt_outcome::failed;
        case action::retry:
            break;
    }
    return v.ambiguous ? attempt_outcome::ambiguous : attempt_outcome::retry;
}

store::hold_target hold_for(const send_context& ctx, const send_answer& a) {
    const bool key = a.v.act == action::hold_key;
    store::hold_target h{.scope = key ? hold_scope::key : hold_scope::number,
                         .subject = key ? ctx.account : ctx.instance_id,
                         .cause = std::string(to_string(a.v.cause)),
                         .reason_code = a.api_code,
                         .until = std::nullopt};
    if (a.v.cause == hold_cause::quota) {
        h.until = next_billing_period(ctx.finished);
    }
    return h;
}

// A transient failure: back off, unless the job has used its attempts or its time. An attempt that was not
// counted (the request never left) does not bring the job closer to max_attempts.
void retry_or_die(const send_context& ctx, const send_answer& a, const retry_rules& rules, double u01,
                  store::job_result& r) {
    const int counted = a.v.counts_attempt ? ctx.job.attempt : ctx.job.attempt - 1;
    const retry_decision next = decide_retry(rules.backoff, static_cast<std::uint32_t>(std::max(counted, 0)),
                                             ctx.job.created_at, ctx.finished, u01);
    if (next.dead()) {
        r.new_state = job_state::dead;
        r.last_code = a.api_code.empty() ? std::string(retries_exhausted_code) : a.api_code;
        return;
    }
    if (a.v.ambiguous && rules.on_ambiguous == ambiguous_policy::hold) {
        // The message may have gone: the job waits, alone, for the operator (`msgflashctl retry`).
        r.new_state = job_state::held;
        return;
    }
    r.new_state = job_state::waiting;
    r.next_attempt_at = next.at;
}

}  // namespace

job_decision decide(const send_context& ctx, const send_answer& a, const retry_rules& rules, double u01) {
    if (a.cancelled_unsent) {
        return {.change = store::unclaim_request{.job_id = ctx.job.id,
                                                 .attempt = ctx.job.attempt,
                                                 .new_state = job_state::ready,
                                                 .next_attempt_at = std::nullopt,
                                                 .now = ctx.finished}};
    }
    store::job_result r;
    r.now = ctx.finished;
    r.instance_id = ctx.instance_id;
    r.attempt = attempt_record{
        .job_id = ctx.job.id,
        .n = ctx.job.attempt,
        .started_at = ctx.started,
        .finished_at = ctx.finished,
        .http_status = a.http_status,
        .api_code = a.api_code,
        .latency_ms = std::chrono::duration_cast<milliseconds>(ctx.finished - ctx.started).count(),
        .message_id = a.message_id,
        .ambiguous = a.v.ambiguous,
        .outcome = outcome_of(a.v),
        .counted = a.v.counts_attempt,
        .settled = settle_outcome::none,  // an ambiguous one is settled by the engine (reconcile_policy.hpp)
    };
    job_decision d;
    switch (a.v.act) {
        case action::sent:
            r.new_state = job_state::sent;
            r.api_status = a.api_status;
            r.count_send = true;
            break;
        case action::rate_limited:
            // Back to the front of the line: ready keeps the job's fair_seq, and the attempt is given back.
            r.new_state = job_state::ready;
            r.next_attempt_at = ctx.finished;
            d.rate_limited = true;
            break;
        case action::hold_key:
        case action::hold_number:
            r.new_state = job_state::held;
            r.hold = hold_for(ctx, a);
            d.hold_key = a.v.act == action::hold_key;
            d.hold_number = a.v.act == action::hold_number;
            break;
        case action::fail:
            r.new_state = job_state::failed;
            break;
        case action::retry:
            retry_or_die(ctx, a, rules, u01, r);
            break;
    }
    d.change = std::move(r);
    return d;
}

}  // namespace msgflash::engine
