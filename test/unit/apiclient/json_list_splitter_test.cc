// SplitJsonList finds a List's items by brackets and quotes only; decoding a List item by item must
// give exactly what decoding the whole document gives, and anything odd falls back to the whole.
#include "apiclient/json_list_splitter.h"

#include <string>

#include "apiclient/object_decoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::apiclient {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(JsonListSplitterTest, FindsItemsAndEmptiesThemInTheShell) {
  auto layout = SplitJsonList(R"( {"kind":"ServiceList","items":[ {"a":1} , {"b":"]}"} ],"metadata":{"x":[1]}} )");
  ASSERT_TRUE(layout.has_value());
  EXPECT_THAT(layout->items, ElementsAre(R"({"a":1})", R"({"b":"]}"})"));
  EXPECT_EQ(layout->shell, R"( {"kind":"ServiceList","items":[],"metadata":{"x":[1]}} )");
}

TEST(JsonListSplitterTest, QuotesAndEscapesInsideItemsDoNotEndThem) {
  auto layout = SplitJsonList(R"({"items":[{"s":"a\"}],{"},{"t":"\\"}]})");
  ASSERT_TRUE(layout.has_value());
  EXPECT_THAT(layout->items, ElementsAre(R"({"s":"a\"}],{"})", R"({"t":"\\"})"));
}

TEST(JsonListSplitterTest, EmptyListAndScalarItems) {
  auto empty = SplitJsonList(R"({"items":[]})");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->items.empty());
  auto scalars = SplitJsonList(R"({"items":[1, "x", null]})");
  ASSERT_TRUE(scalars.has_value());
  EXPECT_THAT(scalars->items, ElementsAre("1", "\"x\"", "null"));
}

TEST(JsonListSplitterTest, AnythingElseIsLeftToTheWholeDocumentParser) {
  for (const char* text : {"", "[1,2]", R"({"kind":"Service"})", R"({"items":{}})",
                           R"({"items":[1],"items":[2]})", R"({"items":[{"a":1}})", R"({"items":[1]} x)",
                           R"({"items":[1 2]})", R"({"items":["unterminated]})", R"({"items" [1]})"}) {
    EXPECT_FALSE(SplitJsonList(text).has_value()) << text;
  }
}

constexpr char kServiceList[] = R"({"apiVersion":"v1","kind":"ServiceList","metadata":{"resourceVersion":"42"},
"items":[
 {"metadata":{"name":"a","namespace":"ns"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80,"protocol":"TCP"}]}},
 {"metadata":{"name":"bad","namespace":"ns"},"spec":{"clusterIP":"10.96.0.300","ports":[{"port":80}]}},
 {"metadata":{"name":"b","namespace":"ns"},"spec":{"clusterIP":"10.96.0.2","ports":[{"port":81,"protocol":"UDP"}]}}
]})";

TEST(JsonListSplitterTest, ItemByItemDecodingMatchesTheWholeDocument) {
  auto decoded = DecodeJsonDocument(kServiceList);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->services.size(), 2u);
  EXPECT_EQ(decoded->services[0].metadata.name, "a");
  EXPECT_EQ(decoded->services[1].metadata.name, "b");
  EXPECT_EQ(decoded->resource_version, "42");
  ASSERT_EQ(decoded->errors.size(), 1u);
  EXPECT_THAT(decoded->errors[0], HasSubstr("Service ns/bad: spec.clusterIP"));
}

TEST(JsonListSplitterTest, MalformedItemMakesTheWholeDocumentInvalid) {
  std::string text = kServiceList;
  text.replace(text.find(R"("port":81)"), 9, R"("port":81,,)");
  auto decoded = DecodeJsonDocument(text);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr("not valid JSON"));
}

}  // namespace
}  // namespace kproxy::apiclient
