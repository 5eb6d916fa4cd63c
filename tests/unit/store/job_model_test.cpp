// The pure job model (lib/core/job.hpp): stored spellings, the transitions SPEC §4 allows, fair_seq.
#include <array>

#include <gtest/gtest.h>

#include "core/job.hpp"

namespace msgflash {
namespace {

constexpr std::array all_states{job_state::waiting, job_state::ready,     job_state::inflight,
                                job_state::sent,    job_state::failed,    job_state::dead,
                                job_state::expired, job_state::cancelled, job_state::held};

TEST(JobModel, SpellingsRoundTrip) {
    for (job_state s : all_states) {
        EXPECT_EQ(parse_job_state(to_string(s)), s);
    }
    EXPECT_EQ(to_string(job_state::inflight), "inflight");
    EXPECT_EQ(to_string(attempt_outcome::crash_recovery), "crash-recovery");
    EXPECT_EQ(to_string(attempt_outcome::rate_limited), "rate-limited");
    EXPECT_EQ(parse_batch_state("paused"), batch_state::paused);
    EXPECT_EQ(parse_hold_scope("number"), hold_scope::number);
    EXPECT_FALSE(parse_job_state("Ready"));
    EXPECT_FALSE(parse_attempt_outcome(""));
}

TEST(JobModel, Transitions) {
    using enum job_state;
    EXPECT_TRUE(is_valid_transition(ready, inflight));
    EXPECT_FALSE(is_valid_transition(waiting, inflight));  // only a due job is claimed
    EXPECT_FALSE(is_valid_transition(held, inflight));
    EXPECT_TRUE(is_valid_transition(inflight, sent));
    EXPECT_TRUE(is_valid_transition(inflight, waiting));
    EXPECT_TRUE(is_valid_transition(inflight, held));
    EXPECT_FALSE(is_valid_transition(inflight, inflight));
    EXPECT_TRUE(is_valid_transition(dead, ready));  // msgflashctl retry
    for (job_state to : all_states) {
        EXPECT_FALSE(is_valid_transition(sent, to));
        EXPECT_FALSE(is_valid_transition(failed, to));
        EXPECT_FALSE(is_valid_transition(cancelled, to));
        EXPECT_FALSE(is_valid_transition(expired, to));
    }
    EXPECT_TRUE(is_terminal(dead));
    EXPECT_TRUE(is_pending(held));
    EXPECT_FALSE(is_pending(inflight));
}

TEST(JobModel, FairSeqInterleavesBatches) {
    // A at round 0 with 3 jobs, B arriving while the round is still 0: A1 B1 A2 B2 A3.
    EXPECT_EQ(fair_seq(0, 1), 1);
    EXPECT_EQ(fair_seq(1'000, 1), 1'001);
    EXPECT_EQ(to_millis(from_millis(1'795'766'400'000)), 1'795'766'400'000);
}

}  // namespace
}  // namespace msgflash
