// One timeline for every key (issue 5: "one scheduler for all keys … not a timer per key"): each key's next
// action time in an indexed binary heap, so the engine's single timer waits for earliest() and then pops
// the due keys. O(log n) per change and per pop, O(1) for earliest(), whatever the number of keys.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "core/pacer.hpp"

namespace msgflash {

// Keys are small dense indices (the engine's account index). Ties are broken by key, so the order of due
// keys is deterministic.
template <class TimePoint>
class basic_key_timeline {
  public:
    using key_type = std::size_t;

    // Sets (inserts or moves) the key's time.
    void schedule(key_type key, TimePoint at) {
        if (key >= position_.size()) {
            position_.resize(key + 1, npos);
        }
        std::size_t i = position_[key];
        if (i == npos) {
            i = heap_.size();
            heap_.push_back({at, key});
            position_[key] = i;
        } else {
            heap_[i].at = at;
        }
        restore(i);
    }

    void unschedule(key_type key) {
        if (!scheduled(key)) {
            return;
        }
        const std::size_t i = position_[key];
        const std::size_t last = heap_.size() - 1;
        if (i != last) {
            place(i, heap_[last]);
        }
        heap_.pop_back();
        position_[key] = npos;
        if (i < heap_.size()) {
            restore(i);
        }
    }

    bool scheduled(key_type key) const noexcept { return key < position_.size() && position_[key] != npos; }
    std::optional<TimePoint> scheduled_at(key_type key) const {
        if (!scheduled(key)) {
            return std::nullopt;
        }
        return heap_[position_[key]].at;
    }

    // What the one timer waits for; nullopt when no key has anything scheduled.
    std::optional<TimePoint> earliest() const {
        if (heap_.empty()) {
            return std::nullopt;
        }
        return heap_.front().at;
    }

    // Removes and returns the earliest key whose time is <= now; nullopt when none is due.
    std::optional<key_type> pop_due(TimePoint now) {
        if (heap_.empty() || now < heap_.front().at) {
            return std::nullopt;
        }
        const key_type key = heap_.front().key;
        unschedule(key);
        return key;
    }

    std::size_t size() const noexcept { return heap_.size(); }
    bool empty() const noexcept { return heap_.empty(); }

  private:
    struct entry {
        TimePoint at;
        key_type key;
    };
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

    static bool before(const entry& a, const entry& b) noexcept {
        return a.at < b.at || (a.at == b.at && a.key < b.key);
    }

    void place(std::size_t i, const entry& e) {
        heap_[i] = e;
        position_[e.key] = i;
    }

    // Moves the entry at i up or down until the heap order holds again.
    void restore(std::size_t i) {
        const entry moving = heap_[i];
        while (i > 0 && before(moving, heap_[(i - 1) / 2])) {
            place(i, heap_[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= heap_.size()) {
                break;
            }
            if (child + 1 < heap_.size() && before(heap_[child + 1], heap_[child])) {
                ++child;
            }
            if (!before(heap_[child], moving)) {
                break;
            }
            place(i, heap_[child]);
            i = child;
        }
        place(i, moving);
    }

    std::vector<entry> heap_;
    std::vector<std::size_t> position_;  // by key: index in heap_, npos when not scheduled
};

using key_timeline = basic_key_timeline<pace_time>;

}  // namespace msgflash
