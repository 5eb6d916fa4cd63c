// The Prometheus text exposition format (0.0.4) for /metrics: families with their HELP and TYPE lines,
// samples with escaped label values, and histograms from cumulative bucket counts. Pure: the daemon gathers
// the figures, this only writes them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace msgflash::admin {

using label = std::pair<std::string_view, std::string_view>;

class metrics_text {
  public:
    // Begins a family; `type` is counter, gauge or histogram. Each family once, before its samples.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<label> labels, double value);
    void sample(std::string_view name, double value) { sample(name, {}, value); }
    // A family of one unlabelled sample.
    void single(std::string_view name, std::string_view type, std::string_view help, double value) {
        family(name, type, help);
        sample(name, value);
    }
    // A histogram's samples: `upper` are the buckets' upper bounds (ascending, +Inf added), `cumulative`
    // how many observations were at most each bound, then the sum and the count.
    void histogram(std::string_view name, std::initializer_list<label> labels, std::span<const double> upper,
                   std::span<const std::uint64_t> cumulative, double sum, std::uint64_t count);

    const std::string& text() const noexcept { return out_; }

  private:
    void write_labels(std::initializer_list<label> labels, std::string_view le = {});
    void write_value(double v);

    std::string out_;
};

// The content type of the format.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace msgflash::admin
