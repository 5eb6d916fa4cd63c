#include "tests/unit/engine/engine_fakes.hpp"

#include <algorithm>
#include <cstdio>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace msgflash::engine::test {

namespace asio = boost::asio;

// Virtual wall time starts at 2026-11-22T10:00:00Z (a Sunday; nothing depends on it but readability).
constexpr timestamp wall_origin = from_millis(1'795'341'600'000);

timestamp virtual_clock::now() const {
    return wall_origin + std::chrono::duration_cast<std::chrono::milliseconds>(steady_.time_since_epoch());
}

asio::awaitable<void> virtual_clock::park(pace_time due, bool engine) {
    auto timer = std::make_shared<asio::steady_timer>(io_, pace_time::max());
    sleepers_.emplace(due, timer);
    if (engine) {
        engine_timer_ = timer;
    }
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> virtual_clock::sleep_until(pace_time deadline) {
    if (woken_) {
        woken_ = false;
        co_return;
    }
    co_await park(deadline, true);
    woken_ = false;
}

void virtual_clock::wake() {
    if (auto t = engine_timer_.lock()) {
        t->cancel();
        engine_timer_.reset();
    } else {
        woken_ = true;
    }
}

asio::awaitable<void> virtual_clock::delay(pace_duration d) {
    co_await park(steady_ + d, false);
}

bool virtual_clock::step() {
    io_.restart();
    io_.poll();
    while (!sleepers_.empty()) {
        auto it = sleepers_.begin();
        auto timer = it->second.lock();
        const pace_time due = it->first;
        sleepers_.erase(it);
        if (!timer) {
            continue;  // woken early and gone
        }
        steady_ = std::max(steady_, due);
        timer->cancel();
        io_.restart();
        io_.poll();
        return true;
    }
    return false;
}

bool virtual_clock::run_until(const std::function<bool()>& done, int max_steps) {
    for (int i = 0; i < max_steps; ++i) {
        if (done()) {
            return true;
        }
        if (!step()) {
            break;
        }
    }
    return done();
}

// ---- fake_queue -----------------------------------------------------------------------------------------

std::int64_t fake_queue::add_job(const std::string& account, std::int64_t batch, std::string to,
                                 std::string payload_json, std::string instance) {
    const std::int64_t id = next_id_++;
    store::claimed_job j;
    j.id = id;
    j.batch_id = batch;
    j.ref = to;
    j.to = std::move(to);
    j.payload_json = std::move(payload_json);
    j.instance_id = std::move(instance);
    j.created_at = clock_.now();
    j.fair_seq = id;
    jobs_[id] = j;
    account_of_[id] = account;
    attempts_[id] = 0;
    state_[id] = job_state::ready;
    ready_[account].push_back(id);
    return id;
}

void fake_queue::crash_left(std::int64_t job, int n, timestamp claimed_at) {
    store::claimed_job& j = jobs_.at(job);
    j.ambiguous_before = true;
    j.unsettled = store::unsettled_attempt{.n = n, .started_at = claimed_at};
    attempts_[job] = n;
}

void fake_queue::add_batch(std::int64_t rowid, std::string message_json, std::vector<std::string> instances,
                           std::optional<sending_window> window) {
    store::batch_info b;
    b.rowid = rowid;
    b.id = "batch-" + std::to_string(rowid);
    b.message_json = std::move(message_json);
    b.instance_ids = std::move(instances);
    b.window = std::move(window);
    batches_[rowid] = std::move(b);
}

asio::awaitable<store::store_result<store::claim_result>> fake_queue::claim(store::claim_request r) {
    claims.push_back(r);
    store::claim_result out;
    if (auto h = key_holds_.find(r.account); h != key_holds_.end()) {
        if (!h->second.until || *h->second.until > r.now) {
            out.account_hold = store::hold_info{.id = 1,
                                                .scope = hold_scope::key,
                                                .subject = r.account,
                                                .cause = h->second.cause,
                                                .reason_code = h->second.reason_code,
                                                .since = r.now,
                                                .until = h->second.until};
            co_return out;
        }
        key_holds_.erase(h);
    }
    for (auto it = waiting_.begin(); it != waiting_.end() && it->first <= r.now;) {
        if (account_of_[it->second] == r.account) {
            state_[it->second] = job_state::ready;
            ready_[r.account].push_back(it->second);
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
    auto& line = ready_[r.account];
    while (!line.empty() && out.jobs.size() < r.max_jobs) {
        const std::int64_t id = line.front();
        line.pop_front();
        if (batch_held(id)) {
            state_[id] = job_state::held;
            ++out.held;
            continue;
        }
        store::claimed_job j = jobs_[id];
        j.attempt = ++attempts_[id];
        inflight_[id] = j.attempt;
        state_[id] = job_state::inflight;
        out.jobs.push_back(j);
    }
    co_return out;
}

bool fake_queue::batch_held(std::int64_t job) const {
    const auto b = batches_.find(jobs_.at(job).batch_id);
    return b != batches_.end() && held_batches_.contains(b->second.id);
}

void fake_queue::requeue(std::int64_t id, job_state s, std::optional<timestamp> at) {
    if ((s == job_state::ready || s == job_state::waiting) && batch_held(id)) {
        s = job_state::held;
    }
    state_[id] = s;
    if (s == job_state::ready) {
        ready_[account_of_[id]].push_front(id);  // the front of the line: it keeps its fair_seq
    } else if (s == job_state::waiting) {
        waiting_.emplace(at.value_or(clock_.now()), id);
    }
}

asio::awaitable<store::store_result<job_state>> fake_queue::record(store::job_result r) {
    results.push_back(r);
    const std::int64_t id = r.attempt.job_id;
    auto in = inflight_.find(id);
    if (in == inflight_.end() || in->second != r.attempt.n) {
        co_return store::store_result<job_state>(boost::system::in_place_error,
                                                 store::make_store_error(store::store_errc::stale_result));
    }
    inflight_.erase(in);
    if (r.settles) {
        jobs_[id].unsettled.reset();
    }
    if (r.new_state == job_state::sent && !r.attempt.message_id.empty() &&
        r.delivery != store::delivery_kind::none) {
        add_delivery(account_of_[id], id, r.attempt.message_id, r.attempt.finished_at);
        deliveries[id].check.status = r.api_status;
        deliveries[id].check.campaign = r.delivery == store::delivery_kind::campaign;
        deliveries[id].next_check_at = r.reconcile_at.value_or(r.attempt.finished_at);
    }
    if (!r.attempt.counted) {
        --attempts_[id];
    }
    if (r.hold && r.hold->scope == hold_scope::key) {
        key_holds_[r.hold->subject] = *r.hold;
    }
    requeue(id, r.new_state, r.next_attempt_at);
    co_return r.new_state;
}

asio::awaitable<store::store_result<job_state>> fake_queue::unclaim(store::unclaim_request r) {
    unclaims.push_back(r);
    auto in = inflight_.find(r.job_id);
    if (in == inflight_.end() || in->second != r.attempt) {
        co_return store::store_result<job_state>(boost::system::in_place_error,
                                                 store::make_store_error(store::store_errc::stale_result));
    }
    inflight_.erase(in);
    --attempts_[r.job_id];
    if (r.new_state == job_state::held) {
        if (!r.hold) {
            co_return store::store_result<job_state>(
                boost::system::in_place_error, store::make_store_error(store::store_errc::invalid_argument));
        }
        held_on_number_[r.hold->subject].push_back(r.job_id);
    }
    requeue(r.job_id, r.new_state, r.next_attempt_at);
    co_return r.new_state;
}

asio::awaitable<store::store_result<store::release_report>> fake_queue::release(hold_scope,
                                                                                std::string subject,
                                                                                timestamp) {
    releases.push_back(subject);
    store::release_report rep;
    auto it = held_on_number_.find(subject);
    if (it != held_on_number_.end()) {
        rep.was_held = true;
        for (std::int64_t id : it->second) {
            requeue(id, job_state::ready, std::nullopt);
            ++rep.jobs_resumed;
        }
        held_on_number_.erase(it);
    }
    co_return rep;
}

asio::awaitable<store::store_result<store::batch_info>> fake_queue::batch(std::int64_t rowid) {
    auto it = batches_.find(rowid);
    if (it == batches_.end()) {
        co_return store::store_result<store::batch_info>(
            boost::system::in_place_error, store::make_store_error(store::store_errc::not_found));
    }
    co_return it->second;
}

void fake_queue::hold_batch(const std::string& name) {
    held_batches_.insert(name);
    for (auto& [account, line] : ready_) {
        std::erase_if(line, [&](std::int64_t id) {
            if (!batch_held(id)) {
                return false;
            }
            state_[id] = job_state::held;
            return true;
        });
    }
}

asio::awaitable<store::store_result<store::hold_info>> fake_queue::hold(store::hold_request r) {
    holds.push_back(r);
    if (r.target.scope == hold_scope::key) {
        key_holds_[r.target.subject] = r.target;
    } else if (r.target.scope == hold_scope::batch) {
        hold_batch(r.target.subject);
    }
    co_return store::hold_info{.id = static_cast<std::int64_t>(holds.size()),
                               .scope = r.target.scope,
                               .subject = r.target.subject,
                               .cause = r.target.cause,
                               .reason_code = r.target.reason_code,
                               .since = r.now,
                               .until = r.target.until};
}

void fake_queue::add_delivery(const std::string& account, std::int64_t job, std::string message_id,
                              timestamp sent_at) {
    delivery_row d;
    d.account = account;
    d.check = store::delivery_check{
        .job_id = job, .message_id = std::move(message_id), .status = {}, .sent_at = sent_at};
    d.next_check_at = sent_at;
    deliveries[job] = std::move(d);
}

std::size_t fake_queue::unsettled() const {
    return static_cast<std::size_t>(std::count_if(deliveries.begin(), deliveries.end(),
                                                  [](const auto& kv) { return kv.second.settled.empty(); }));
}

asio::awaitable<store::store_result<std::vector<store::delivery_check>>> fake_queue::claim_deliveries(
    std::string account, timestamp now, std::size_t limit, timestamp lease_until) {
    ++delivery_claims;
    std::vector<delivery_row*> due;
    for (auto& [id, d] : deliveries) {
        if (d.account == account && d.settled.empty() && d.next_check_at <= now) {
            due.push_back(&d);
        }
    }
    std::stable_sort(due.begin(), due.end(), [](const delivery_row* a, const delivery_row* b) {
        return a->next_check_at < b->next_check_at;
    });
    std::vector<store::delivery_check> out;
    for (delivery_row* d : due) {
        if (out.size() == limit) {
            break;
        }
        d->next_check_at = lease_until;
        out.push_back(d->check);
    }
    co_return out;
}

asio::awaitable<store::store_result<void>> fake_queue::record_delivery(store::delivery_update u) {
    delivery_updates.push_back(u);
    auto it = deliveries.find(u.job_id);
    if (it == deliveries.end()) {
        co_return store::store_result<void>(boost::system::in_place_error,
                                            store::make_store_error(store::store_errc::not_found));
    }
    delivery_row& d = it->second;
    ++d.checks;
    if (!u.status.empty()) {
        d.status = u.status;
        d.check.status = u.status;
    }
    if (u.status_at) {
        d.status_at = u.status_at;
    }
    d.settled = u.settled;
    if (u.settled.empty() && u.next_check_at) {
        d.next_check_at = *u.next_check_at;
    }
    co_return store::store_result<void>();
}

const store::job_result* fake_queue::last_result(std::int64_t job) const {
    for (auto it = results.rbegin(); it != results.rend(); ++it) {
        if (it->attempt.job_id == job) {
            return &*it;
        }
    }
    return nullptr;
}

std::size_t fake_queue::count_state(job_state s) const {
    return static_cast<std::size_t>(
        std::count_if(state_.begin(), state_.end(), [s](const auto& kv) { return kv.second == s; }));
}

// ---- fake_api -------------------------------------------------------------------------------------------

std::string iso(timestamp t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> tod{t - day};
    char buf[40];
    std::snprintf(
        buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<int>(ymd.year()),
        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
        static_cast<long long>(tod.hours().count()), static_cast<long long>(tod.minutes().count()),
        static_cast<long long>(tod.seconds().count()), static_cast<long long>(tod.subseconds().count()));
    return buf;
}

asio::awaitable<api::api_result<api::message_ref>> fake_api::send(std::string account, api::send_request r,
                                                                  std::function<void()> on_write) {
    if (on_write) {
        on_write();
    }
    const std::string to = r.to;
    requests.push_back({std::move(account), r, clock_.steady_now()});
    const api::send_request body = requests.back().body;  // a copy: `requests` grows while this waits
    fake_answer a = fallback;
    if (auto s = script.find(to); s != script.end() && !s->second.empty()) {
        a = s->second.front();
        s->second.pop_front();
    }
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    bool cancelled = false;
    if (a.k == fake_answer::kind::hang) {
        auto timer = std::make_shared<asio::steady_timer>(io_, pace_time::max());
        hung_.push_back(timer);
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        cancelled = true;
    } else if (a.latency > pace_duration::zero()) {
        co_await clock_.delay(a.latency);
    }
    --in_flight;
    api::exchange_info info;
    info.http_status = a.k == fake_answer::kind::ok || a.k == fake_answer::kind::error ? a.status : 0;
    api::api_failure f;
    f.ec = asio::error::operation_aborted;
    const auto keep = [&](std::string id) {
        api::message_details m;
        m.id = std::move(id);
        m.status = "queued";
        m.instance_id = body.instance_id;
        m.to = body.to;
        m.type = body.content.template_id ? std::optional<std::string>("text") : body.content.type;
        m.body = body.content.body;
        m.media_url = body.content.media_url;
        m.template_id = body.content.template_id;
        m.created_at = iso(clock_.now());
        messages.push_back(std::move(m));
    };
    if (cancelled || a.k == fake_answer::kind::ambiguous) {
        if (a.k == fake_answer::kind::ambiguous && ambiguous_processed) {
            keep("msg-" + std::to_string(next_message_++));
        }
        f.outcome = transport_outcome::ambiguous;
        co_return api::api_result<api::message_ref>(std::move(f), info);
    }
    if (a.k == fake_answer::kind::not_sent) {
        f.outcome = transport_outcome::not_sent;
        f.ec = asio::error::connection_refused;
        co_return api::api_result<api::message_ref>(std::move(f), info);
    }
    if (a.k == fake_answer::kind::error) {
        f.outcome = transport_outcome::answered;
        f.http_status = a.status;
        f.retry_after = a.retry_after;
        f.error = api::api_error{.http_status = a.status,
                                 .code = a.code,
                                 .message = {},
                                 .details = {},
                                 .retry_after = a.retry_after};
        f.ec = {};
        co_return api::api_result<api::message_ref>(std::move(f), info);
    }
    const std::string id = "msg-" + std::to_string(next_message_++);
    keep(id);
    co_return api::api_result<api::message_ref>(api::message_ref{.id = id, .status = "queued"}, info);
}

void fake_api::set_status(std::string_view status) {
    const std::string at = iso(clock_.now());
    for (api::message_details& m : messages) {
        m.status = std::string(status);
        if (status == "sent") {
            m.sent_at = at;
        } else if (status == "delivered") {
            m.delivered_at = at;
        } else if (status == "read") {
            m.read_at = at;
        } else if (status == "failed") {
            m.failed_at = at;
        }
    }
}

namespace {

template <class T>
std::optional<api::api_result<T>> scripted_read(std::deque<fake_answer>& script) {
    if (script.empty()) {
        return std::nullopt;
    }
    const fake_answer a = script.front();
    script.pop_front();
    api::api_failure f;
    f.outcome = a.k == fake_answer::kind::error ? transport_outcome::answered : transport_outcome::not_sent;
    f.http_status = a.status;
    f.retry_after = a.retry_after;
    if (a.k == fake_answer::kind::error) {
        f.error = api::api_error{.http_status = a.status,
                                 .code = a.code,
                                 .message = {},
                                 .details = {},
                                 .retry_after = a.retry_after};
    } else {
        f.ec = asio::error::connection_refused;
    }
    return api::api_result<T>(std::move(f), api::exchange_info{.http_status = a.status});
}

}  // namespace

asio::awaitable<api::api_result<api::message_details>> fake_api::get_message(std::string account,
                                                                             std::string id) {
    reads.push_back({std::move(account), "get " + id, clock_.steady_now()});
    if (read_latency > pace_duration::zero()) {
        co_await clock_.delay(read_latency);
    }
    if (auto r = scripted_read<api::message_details>(read_script)) {
        co_return std::move(*r);
    }
    for (const api::message_details& m : messages) {
        if (m.id == id) {
            co_return api::api_result<api::message_details>(m, api::exchange_info{.http_status = 200});
        }
    }
    api::api_failure f;
    f.outcome = transport_outcome::answered;
    f.http_status = 404;
    f.error = api::api_error{
        .http_status = 404, .code = "NOT_FOUND", .message = {}, .details = {}, .retry_after = {}};
    co_return api::api_result<api::message_details>(std::move(f), api::exchange_info{.http_status = 404});
}

asio::awaitable<api::api_result<api::message_page>> fake_api::list_messages(std::string account,
                                                                            api::message_query q) {
    reads.push_back({std::move(account), "list", clock_.steady_now()});
    if (read_latency > pace_duration::zero()) {
        co_await clock_.delay(read_latency);
    }
    if (auto r = scripted_read<api::message_page>(read_script)) {
        co_return std::move(*r);
    }
    // Newest first; the cursor is the index of the next older message.
    std::size_t pos = q.cursor ? std::stoul(*q.cursor) : messages.size();
    const std::size_t limit = q.limit.value_or(20);
    api::message_page page;
    while (pos > 0) {
        const api::message_details& m = messages[pos - 1];
        if (q.instance_id && m.instance_id != q.instance_id) {
            --pos;
            continue;
        }
        if (page.messages.size() == limit) {
            page.has_more = true;
            page.next_cursor = std::to_string(pos);
            break;
        }
        page.messages.push_back(m);
        --pos;
    }
    co_return api::api_result<api::message_page>(std::move(page), api::exchange_info{.http_status = 200});
}

asio::awaitable<api::api_result<api::campaign_stats>> fake_api::campaign_stats(std::string account,
                                                                               std::string id) {
    reads.push_back({std::move(account), "stats " + id, clock_.steady_now()});
    if (read_latency > pace_duration::zero()) {
        co_await clock_.delay(read_latency);
    }
    if (auto r = scripted_read<api::campaign_stats>(read_script)) {
        co_return std::move(*r);
    }
    api::campaign_stats k = campaign_progress;
    k.campaign_id = id;
    co_return api::api_result<api::campaign_stats>(std::move(k), api::exchange_info{.http_status = 200});
}

asio::awaitable<api::api_result<api::campaign>> fake_api::create_campaign(std::string account,
                                                                          boost::json::object body,
                                                                          std::function<void()> on_write) {
    if (on_write) {
        on_write();
    }
    campaigns.push_back({std::move(account), std::move(body), clock_.steady_now()});
    const fake_answer a = campaign_answer;
    if (a.latency > pace_duration::zero()) {
        co_await clock_.delay(a.latency);
    }
    api::api_failure f;
    if (a.k == fake_answer::kind::ambiguous) {
        f.outcome = transport_outcome::ambiguous;
        f.ec = asio::error::operation_aborted;
        co_return api::api_result<api::campaign>(std::move(f), api::exchange_info{});
    }
    if (a.k == fake_answer::kind::error) {
        f.outcome = transport_outcome::answered;
        f.http_status = a.status;
        f.error = api::api_error{
            .http_status = a.status, .code = a.code, .message = {}, .details = {}, .retry_after = {}};
        co_return api::api_result<api::campaign>(std::move(f), api::exchange_info{.http_status = a.status});
    }
    api::campaign c;
    c.id = "campaign-" + std::to_string(campaigns.size());
    c.status = "scheduled";
    co_return api::api_result<api::campaign>(std::move(c), api::exchange_info{.http_status = 201});
}

asio::awaitable<api::api_result<std::vector<api::instance>>> fake_api::list_instances(std::string account) {
    polls.push_back({std::move(account), "instances", clock_.steady_now()});
    std::vector<api::instance> list;
    for (const auto& [id, status] : instance_status) {
        api::instance i;
        i.id = id;
        i.status = status;
        list.push_back(std::move(i));
    }
    co_return api::api_result<std::vector<api::instance>>(std::move(list),
                                                          api::exchange_info{.http_status = 200});
}

asio::awaitable<api::api_result<api::instance_health>> fake_api::instance_health(std::string account,
                                                                                 std::string id) {
    polls.push_back({std::move(account), id, clock_.steady_now()});
    api::instance_health h;
    h.safety = api::safety_state::healthy;
    h.safety_text = "healthy";
    if (auto it = health.find(id); it != health.end()) {
        h = it->second;
    }
    co_return api::api_result<api::instance_health>(std::move(h), api::exchange_info{.http_status = 200});
}

asio::awaitable<api::api_result<api::template_preview>> fake_api::preview_template(
    std::string account, std::string id, api::template_preview_request r) {
    previews.push_back({std::move(account), id, std::move(r), clock_.steady_now()});
    const fake_answer a = preview_answer;
    if (a.latency > pace_duration::zero()) {
        co_await clock_.delay(a.latency);
    }
    if (a.k == fake_answer::kind::error) {
        api::api_failure f;
        f.outcome = transport_outcome::answered;
        f.http_status = a.status;
        f.error = api::api_error{
            .http_status = a.status, .code = a.code, .message = {}, .details = {}, .retry_after = {}};
        co_return api::api_result<api::template_preview>(std::move(f),
                                                         api::exchange_info{.http_status = a.status});
    }
    co_return api::api_result<api::template_preview>(
        api::template_preview{.template_id = id, .rendered = "ok"}, api::exchange_info{.http_status = 200});
}

void fake_api::cancel_all() {
    ++cancel_calls;
    for (auto& w : hung_) {
        if (auto t = w.lock()) {
            t->cancel();
        }
    }
    hung_.clear();
}

}  // namespace msgflash::engine::test
