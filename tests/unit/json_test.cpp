// common/json.hpp: the one-line layout the docs and scripts grep, on top of
// the library's escaping and numbers.
#include "common/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace iom {
namespace {

TEST(JsonLine, KeysInTheOrderWrittenWithASpaceAfterEachColonAndComma) {
    Json j = {{"zeta", 1}, {"alpha", "two"}, {"nested", Json{{"list", Json::array({1, 2})}, {"empty", Json::object()}}}};
    EXPECT_EQ(json_line(j), R"({"zeta": 1, "alpha": "two", "nested": {"list": [1, 2], "empty": {}}})");
}

TEST(JsonLine, TheLibraryEscapesStringsAndWritesNonFiniteNumbersAsNull) {
    Json j = {{"text", "a \"quote\"\n\\ \x01"}, {"nan", std::numeric_limits<double>::quiet_NaN()},
              {"half", 0.5}, {"none", nullptr}, {"yes", true}};
    EXPECT_EQ(json_line(j), R"({"text": "a \"quote\"\n\\ \u0001", "nan": null, "half": 0.5, "none": null, "yes": true})");
}

TEST(JsonLine, BadUtf8IsReplacedNotThrown) {
    Json j = {{"bytes", std::string("ok\xff")}};
    std::string line;
    ASSERT_NO_THROW(line = json_line(j));
    EXPECT_EQ(Json::parse(line)["bytes"].get<std::string>(), "ok\xef\xbf\xbd");  // U+FFFD
}

TEST(JsonDocument, ReadsBackAsWhatWasWritten) {
    Json j = {{"servers", Json::array({Json{{"name", "epoll_server"}, {"kib", 4.25}}})}};
    std::string text = json_document(j);
    EXPECT_EQ(text.back(), '\n');
    EXPECT_NE(text.find("\"name\": \"epoll_server\""), std::string::npos) << text;
    EXPECT_EQ(Json::parse(text), j);
}

}  // namespace
}  // namespace iom
