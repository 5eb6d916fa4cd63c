#include "admin/metrics_text.hpp"

#include <cmath>

#include <fmt/format.h>

namespace msgflash::admin {

namespace {

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
    for (const char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (quote && c == '"') {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

}  // namespace

void metrics_text::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void metrics_text::write_labels(std::initializer_list<label> labels, std::string_view le) {
    if (labels.size() == 0 && le.empty()) {
        return;
    }
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) {
            out_ += ',';
        }
        first = false;
        out_ += k;
        out_ += "=\"";
        append_escaped(out_, v, true);
        out_ += '"';
    }
    if (!le.empty()) {
        if (!first) {
            out_ += ',';
        }
        out_ += "le=\"";
        out_ += le;
        out_ += '"';
    }
    out_ += '}';
}

void metrics_text::write_value(double v) {
    out_ += ' ';
    if (std::isnan(v)) {
        out_ += "NaN";
    } else if (std::isinf(v)) {
        out_ += v > 0 ? "+Inf" : "-Inf";
    } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
        fmt::format_to(std::back_inserter(out_), "{}", static_cast<long long>(v));
    } else {
        fmt::format_to(std::back_inserter(out_), "{}", v);
    }
    out_ += '\n';
}

void metrics_text::sample(std::string_view name, std::initializer_list<label> labels, double value) {
    out_ += name;
    write_labels(labels);
    write_value(value);
}

void metrics_text::histogram(std::string_view name, std::initializer_list<label> labels,
                             std::span<const double> upper, std::span<const std::uint64_t> cumulative,
                             double sum, std::uint64_t count) {
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < upper.size() && i < cumulative.size(); ++i) {
        out_ += bucket;
        write_labels(labels, fmt::format("{}", upper[i]));
        write_value(static_cast<double>(cumulative[i]));
    }
    out_ += bucket;
    write_labels(labels, "+Inf");
    write_value(static_cast<double>(count));
    out_ += name;
    out_ += "_sum";
    write_labels(labels);
    write_value(sum);
    out_ += name;
    out_ += "_count";
    write_labels(labels);
    write_value(static_cast<double>(count));
}

}  // namespace msgflash::admin
