#include "core/api_errors.hpp"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace msgflash {
namespace {

// The documentation's error table, as published (tests/fixtures holds a verbatim copy of error-codes.txt).
std::vector<std::pair<std::string, unsigned>> documented_rows() {
    const char* src = std::getenv("MSGFLASH_SOURCE_DIR");
    std::ifstream in(std::string(src ? src : ".") + "/tests/fixtures/msgflash-error-codes.txt");
    EXPECT_TRUE(in) << "fixture not found; is MSGFLASH_SOURCE_DIR set?";
    // Rows read "CODEHTTPDescription" with the cells run together, e.g. "UNAUTHORIZED401API key…".
    const std::regex row(R"(^([A-Z][A-Z_]+)([1-5][0-9]{2})\S)");
    std::vector<std::pair<std::string, unsigned>> rows;
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_search(line, m, row)) {
            rows.emplace_back(m[1], static_cast<unsigned>(std::stoul(m[2])));
        }
    }
    return rows;
}

TEST(ApiErrorTable, HoldsEveryDocumentedCodeWithItsStatus) {
    const auto rows = documented_rows();
    ASSERT_EQ(rows.size(), 40u) << "the documentation lists 40 codes";
    for (const auto& [code, status] : rows) {
        SCOPED_TRACE(code);
        const auto info = find_api_error(code);
        ASSERT_TRUE(info.has_value());
        EXPECT_EQ(info->http_status, status);
        EXPECT_EQ(info->code, code);
        EXPECT_FALSE(info->message.empty());
    }
}

TEST(ApiErrorTable, HasNoRowTheDocumentationLacks) {
    std::set<std::string> documented;
    for (const auto& [code, status] : documented_rows()) {
        documented.insert(code);
    }
    documented.insert("UNSUPPORTED_FEATURE");  // campaigns-create.txt: 403 for buttons without Business
    for (const auto& row : api_error_table()) {
        EXPECT_TRUE(documented.contains(std::string(row.code))) << row.code;
    }
    EXPECT_EQ(api_error_table().size(), documented.size());
}

TEST(ApiErrorTable, RowsAreUniqueAndMatchTheirEnum) {
    std::set<std::string_view> codes;
    std::set<api_errc> enums;
    for (const auto& row : api_error_table()) {
        EXPECT_TRUE(codes.insert(row.code).second) << row.code;
        EXPECT_TRUE(enums.insert(row.errc).second) << row.code;
        EXPECT_EQ(api_error(row.errc).code, row.code);
    }
}

TEST(ApiErrorTable, UnknownCodesAreNotFound) {
    EXPECT_FALSE(find_api_error("").has_value());
    EXPECT_FALSE(find_api_error("unauthorized").has_value());  // codes are case-sensitive on the wire
    EXPECT_FALSE(find_api_error("SERVICE_UNAVAILABLE").has_value());
    EXPECT_EQ(api_error(api_errc::unknown_code).http_status, 0u);
}

TEST(ApiErrorCategory, NamesTheCode) {
    const std::error_code ec = api_errc::provider_timeout;
    EXPECT_EQ(ec.category().name(), std::string("msgflash-api"));
    EXPECT_EQ(ec.message(), "PROVIDER_TIMEOUT");
    EXPECT_EQ(std::error_code(api_errc::unknown_code).message(), "undocumented API error code");
}

}  // namespace
}  // namespace msgflash
