#include "spool/json_stream.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value_stack.hpp>

namespace msgflash::spool {

namespace json = boost::json;

namespace {

// Memory the streamed elements are built in, reused for each; a larger element spills to the heap.
constexpr std::size_t element_buffer_bytes = 16 * 1024;

bool is_json_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::uint64_t count_newlines(const char* p, const char* end) noexcept {
    std::uint64_t n = 0;
    while (p < end) {
        p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (p == nullptr) {
            break;
        }
        ++n;
        ++p;
    }
    return n;
}

// The SAX handler: tracks depth and where each value sits, and forwards the values it keeps to a
// value_stack (as Boost.JSON's own parser does), handing each to the visitor when it is complete.
//
// Lines: the parser reports no positions, but it hands over unescaped keys and strings as pointers into
// the chunk being parsed. A top-level key's line is that of its text; an element's line is that of its
// opening '{' found by walking back from its first key over white space. Newlines are counted lazily, from
// the last position asked for, so the whole file is counted once (an escaped or split key falls back to the
// last position known, a line or so early at worst).
class stream_handler {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    stream_handler(const json_stream_options& options, json_stream_visitor& visitor)
        : options_(options), visitor_(visitor), element_storage_(&element_resource_) {}

    bool root_is_object() const noexcept { return root_is_object_; }

    void begin_chunk(std::string_view chunk) noexcept {
        chunk_begin_ = pos_ = chunk.data();
        chunk_end_ = chunk.data() + chunk.size();
    }
    void end_chunk() noexcept {
        line_ += count_newlines(pos_, chunk_end_);
        pos_ = chunk_end_;
        // For the next chunk's walks back, which may cross into this one.
        const bool ends_in_quote = chunk_end_ > chunk_begin_ && chunk_end_[-1] == '"';
        const auto before_quote = ends_in_quote ? space_newlines_before(chunk_end_ - 1) : 0;
        tail_space_newlines_ = space_newlines_before(chunk_end_);
        tail_quote_space_newlines_ = before_quote;
    }
    // The line of a position in the current chunk at or after the last one asked for.
    std::uint64_t line_at(const char* p) noexcept {
        if (p >= pos_ && p <= chunk_end_) {
            line_ += count_newlines(pos_, p);
            pos_ = p;
        }
        return line_;
    }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }

    bool on_object_begin(json::error_code&) {
        begin_value(false);
        if (depth_ == 0) {
            root_is_object_ = true;
        }
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code&) {
        --depth_;
        if (capturing_) {
            stack_.push_object(n);
        }
        end_value();
        return true;
    }
    bool on_array_begin(json::error_code&) {
        begin_value(true);
        if (depth_ == 1 && root_is_object_) {
            in_top_array_ = true;
            if (key_ == options_.streamed_key && !options_.streamed_key.empty()) {
                in_streamed_ = true;
            }
        }
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t n, json::error_code&) {
        --depth_;
        if (depth_ == 1) {
            in_top_array_ = false;
            in_streamed_ = false;
        }
        if (capturing_) {
            stack_.push_array(n);
        }
        end_value();
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        key_text(s);
        if (capturing_) {
            stack_.push_chars(s);
        } else if (depth_ == 1) {
            key_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        key_text(s);
        key_started_ = false;
        if (capturing_) {
            stack_.push_key(s);
        } else if (depth_ == 1) {
            key_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        if (!in_part_) {
            begin_value(false);
            in_part_ = true;
            string_text(s);
        }
        if (capturing_) {
            stack_.push_chars(s);
        }
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        const bool whole = !in_part_;
        scalar_begin();
        if (whole) {
            string_text(s);
        }
        if (capturing_) {
            stack_.push_string(s);
        }
        end_value();
        return true;
    }
    bool on_number_part(json::string_view, json::error_code&) {
        if (!in_part_) {
            begin_value(false);
            in_part_ = true;
        }
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        scalar_begin();
        if (capturing_) {
            stack_.push_int64(i);
        }
        end_value();
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        scalar_begin();
        if (capturing_) {
            stack_.push_uint64(u);
        }
        end_value();
        return true;
    }
    bool on_double(double d, json::string_view, json::error_code&) {
        scalar_begin();
        if (capturing_) {
            stack_.push_double(d);
        }
        end_value();
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        scalar_begin();
        if (capturing_) {
            stack_.push_bool(b);
        }
        end_value();
        return true;
    }
    bool on_null(json::error_code&) {
        scalar_begin();
        if (capturing_) {
            stack_.push_null();
        }
        end_value();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

  private:
    // The first piece of a key: a top-level key's line, or the line of the element it opens.
    void key_text(json::string_view s) noexcept {
        if (key_started_) {
            return;
        }
        key_started_ = true;
        if (depth_ == 1 && !capturing_) {
            key_.clear();
            key_line_ = line_at(s.data());
        } else if (element_pending_ && depth_ == 3) {
            element_pending_ = false;
            // Back from the key's opening quote over white space to the element's '{'.
            // The key may sit in the parser's own buffer (an escaped key): test before stepping back.
            const char* p = s.data();
            const std::less<const char*> before;
            if (before(chunk_begin_, p) && !before(chunk_end_, p)) {
                const char* quote = p - 1;
                element_line_ = line_at(quote) - space_newlines_before(quote);
            } else if (s.data() == chunk_begin_) {  // the quote ended the chunk before
                element_line_ = line_at(chunk_begin_) - tail_quote_space_newlines_;
            } else {
                element_line_ = line_at(s.data());
            }
        }
    }

    // The newlines in the white space just before p, continued into the chunks before if it reaches back.
    std::uint64_t space_newlines_before(const char* p) const noexcept {
        std::uint64_t n = 0;
        const char* b = p;
        for (; b > chunk_begin_ && is_json_space(b[-1]); --b) {
            n += b[-1] == '\n' ? 1 : 0;
        }
        return b == chunk_begin_ ? n + tail_space_newlines_ : n;
    }

    // The first piece of a string value: an element that is a string starts at its quote.
    void string_text(json::string_view s) noexcept {
        if (element_pending_ && depth_ == 2) {
            element_pending_ = false;
            element_line_ = line_at(s.data());
        }
    }

    void scalar_begin() {
        if (in_part_) {
            in_part_ = false;
        } else {
            begin_value(false);
        }
    }

    // A value starts at depth_ (the depth of what contains it): keep it, or not.
    void begin_value(bool is_array) {
        if (depth_ == 2 && in_top_array_) {
            element_line_ = line_;  // refined by the element's first key or string
            element_pending_ = true;
            if (!capturing_ && in_streamed_ && options_.elements) {
                element_resource_.release();
                start_capture(element_storage_);
            }
            return;
        }
        if (capturing_ || depth_ != 1 || !root_is_object_) {
            return;
        }
        if (!options_.streamed_key.empty() && key_ == options_.streamed_key) {
            visitor_.streamed_field(key_line_, is_array);
        } else if (options_.fields) {
            start_capture(options_.field_storage);
        }
    }

    void start_capture(const json::storage_ptr& sp) {
        stack_.reset(sp);
        capturing_ = true;
        capture_depth_ = depth_;
    }

    void end_value() {
        if (!capturing_ || depth_ != capture_depth_) {
            return;
        }
        capturing_ = false;
        if (capture_depth_ == 1) {
            visitor_.field(key_, key_line_, stack_.release());
        } else {
            visitor_.element(stack_.release(), element_line_);
        }
    }

    const json_stream_options& options_;
    json_stream_visitor& visitor_;
    const char* chunk_begin_ = nullptr;
    const char* chunk_end_ = nullptr;
    const char* pos_ = nullptr;
    std::uint64_t line_ = 1;
    std::uint64_t tail_space_newlines_ = 0;        // in the white space that ended the chunk before
    std::uint64_t tail_quote_space_newlines_ = 0;  // in the white space before a '"' that ended it
    bool element_pending_ = false;
    std::array<unsigned char, element_buffer_bytes> element_buffer_{};
    json::monotonic_resource element_resource_{element_buffer_.data(), element_buffer_.size()};
    json::storage_ptr element_storage_;
    json::value_stack stack_;
    std::size_t depth_ = 0;
    std::size_t capture_depth_ = 0;
    bool capturing_ = false;
    bool root_is_object_ = false;
    bool in_top_array_ = false;
    bool in_streamed_ = false;
    bool in_part_ = false;
    bool key_started_ = false;
    std::string key_;
    std::uint64_t key_line_ = 0;
    std::uint64_t element_line_ = 0;
};

// Whether the bytes around `pos` hold a malformed UTF-8 sequence: what Boost.JSON reports as a plain
// syntax error when a string is not UTF-8. A sequence cut by the window's edges is not counted.
bool bad_utf8_near(std::string_view chunk, std::size_t pos) noexcept {
    constexpr std::size_t max_sequence = 4;
    std::size_t from = pos > max_sequence ? pos - max_sequence : 0;
    while (from < pos && (static_cast<unsigned char>(chunk[from]) & 0xC0) == 0x80) {
        ++from;  // continuation bytes of a sequence that began before the window
    }
    std::size_t to = std::min(chunk.size(), pos + max_sequence);
    while (to < chunk.size() && (static_cast<unsigned char>(chunk[to]) & 0xC0) == 0x80) {
        ++to;
    }
    return !is_valid_utf8(chunk.substr(from, to - from));
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* const end = p + text.size();
    while (p < end) {
        const unsigned c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80;  // the second byte's range excludes overlongs and surrogates (RFC 3629)
        unsigned hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < len || p[1] < lo || p[1] > hi) {
            return false;
        }
        for (std::size_t k = 2; k < len; ++k) {
            if ((p[k] & 0xC0) != 0x80) {
                return false;
            }
        }
        p += len;
    }
    return true;
}

json_stream_result stream_json(byte_source& source, const json_stream_options& options,
                               json_stream_visitor& visitor) {
    json::parse_options po;
    po.max_depth = max_json_depth;
    json::basic_parser<stream_handler> parser(po, options, visitor);
    auto& handler = parser.handler();
    std::vector<char> buffer(read_chunk_bytes);
    json_stream_result out;
    bool blank = true;
    const auto fail = [&](problem_code code, std::string message, std::uint64_t line) {
        out.code = code;
        out.message = std::move(message);
        out.line = line;
        return out;
    };
    while (true) {
        const std::size_t n = source.read(buffer);
        const std::string_view chunk(buffer.data(), n);
        handler.begin_chunk(chunk);
        if (parser.done()) {  // after the value: white space only
            const auto extra = std::find_if_not(chunk.begin(), chunk.end(), is_json_space);
            if (extra != chunk.end()) {
                return fail(problem_code::not_json, "more text after the end of the JSON value",
                            handler.line_at(&*extra));
            }
            if (n == 0) {
                break;
            }
            handler.end_chunk();
            continue;
        }
        blank = blank && std::all_of(chunk.begin(), chunk.end(), is_json_space);
        json::error_code ec;
        const std::size_t used = parser.write_some(n > 0, chunk.data(), n, ec);
        if (ec) {
            const auto line = handler.line_at(chunk.data() + used);
            if (ec == json::error::too_deep) {
                return fail(problem_code::too_deep,
                            "nested deeper than " + std::to_string(max_json_depth) + " levels", line);
            }
            if (ec == json::error::incomplete) {
                return blank ? fail(problem_code::empty_file, "the file is empty", 0)
                             : fail(problem_code::not_json, "the JSON text ends before it is complete", line);
            }
            if (ec == json::error::syntax && bad_utf8_near(chunk, used)) {
                return fail(problem_code::invalid_utf8, "bytes that are not UTF-8", line);
            }
            return fail(problem_code::not_json, "not JSON: " + ec.message(), line);
        }
        if (used < n) {  // the value ended inside this chunk: the rest may only be white space
            const auto rest = chunk.substr(used);
            const auto extra = std::find_if_not(rest.begin(), rest.end(), is_json_space);
            if (extra != rest.end()) {
                return fail(problem_code::not_json, "more text after the end of the JSON value",
                            handler.line_at(&*extra));
            }
        }
        if (n == 0) {
            break;
        }
        handler.end_chunk();
    }
    out.ok = true;
    out.root_is_object = handler.root_is_object();
    return out;
}

bool keep_field(json::object& into, field_lines& lines, std::string_view key, std::uint64_t line,
                json::value value, problem_list& problems) {
    if (into.contains(key)) {
        problems.add(line, std::string(key), problem_code::duplicate_field, "given twice");
        return false;
    }
    lines.add(key, line);
    into.emplace(key, std::move(value));
    return true;
}

bool stream_json_object(byte_source& source, const json_stream_options& options, json_stream_visitor& visitor,
                        problem_list& problems, std::string_view expected) {
    const auto r = stream_json(source, options, visitor);
    if (!r.ok) {
        problems.add(r.line, "", r.code, r.message);
    } else if (!r.root_is_object) {
        problems.add(1, "", problem_code::not_an_object, std::string(expected));
    }
    return r.ok && r.root_is_object;
}

}  // namespace msgflash::spool
