// One JSON document streamed from a byte_source through Boost.JSON's SAX parser (basic_parser): each
// top-level field is handed over whole, or — for one chosen top-level array, e.g. a batch's recipients —
// each element on its own, so memory holds one element at a time whatever the array's length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "spool/job_problems.hpp"
#include "spool/job_reader.hpp"
#include "spool/job_validation.hpp"

namespace msgflash::spool {

// Deeper than any job file needs (a batch's buttons sit at depth 4); deeper nesting is TOO_DEEP, never a
// deep recursion (Boost.JSON's parser keeps its own bounded stack).
constexpr std::size_t max_json_depth = 64;
// Bytes asked of the source at a time.
constexpr std::size_t read_chunk_bytes = 64 * 1024;

class json_stream_visitor {
  public:
    virtual ~json_stream_visitor() = default;
    // A top-level field other than the streamed one, whole (allocated from the stream's field storage).
    virtual void field(std::string_view key, std::uint64_t line, boost::json::value value) = 0;
    // The streamed field's key was met; `is_array` says whether its value is an array.
    virtual void streamed_field(std::uint64_t line, bool is_array) = 0;
    // One element of the streamed array, with the line where it starts. The value's memory is reused for
    // the next element: do not keep it.
    virtual void element(boost::json::value value, std::uint64_t line) = 0;
};

struct json_stream_options {
    std::string_view streamed_key{};  // empty: no field is streamed
    bool fields = true;               // hand over the other top-level fields (false: skip them)
    bool elements = true;             // hand over the streamed array's elements (false: skip them)
    boost::json::storage_ptr field_storage{};
};

// How the text ended: ok, or the first JSON error (a file has at most one: parsing stops there).
struct json_stream_result {
    bool ok = false;
    bool root_is_object = false;
    problem_code code = problem_code::not_json;
    std::string message{};
    std::uint64_t line = 0;
};

// Whether `text` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

// Reads the source from its current position to the end.
json_stream_result stream_json(byte_source& source, const json_stream_options& options,
                               json_stream_visitor& visitor);

// Keeps a top-level field handed to json_stream_visitor::field in `into`, noting its line; a field given
// twice is DUPLICATE_FIELD (false, the first kept).
bool keep_field(boost::json::object& into, field_lines& lines, std::string_view key, std::uint64_t line,
                boost::json::value value, problem_list& problems);

// stream_json for a file that must be one JSON object: false, with the problem added (NOT_JSON, ...,
// or NOT_AN_OBJECT saying `expected`), when it is not.
bool stream_json_object(byte_source& source, const json_stream_options& options, json_stream_visitor& visitor,
                        problem_list& problems, std::string_view expected);

}  // namespace msgflash::spool
