#include "apiclient/yaml_to_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::apiclient {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string ToJson(absl::string_view yaml) {
  absl::StatusOr<std::optional<std::string>> json = YamlDocumentToJson(yaml);
  EXPECT_TRUE(json.ok()) << json.status();
  if (!json.ok() || !json->has_value()) return "<none>";
  return **json;
}

TEST(YamlToJsonTest, TypesPlainScalarsAndKeepsQuotedOnesAsStrings) {
  EXPECT_EQ(
      ToJson("a: 80\nb: \"80\"\nc: '80'\nd: true\ne: \"true\"\nf: null\ng: ~\nh:\ni: 1.5\nj: "
             "10.96.0.1\n"),
      R"({"a":80,"b":"80","c":"80","d":true,"e":"true","f":null,"g":null,"h":null,"i":1.5,"j":"10.96.0.1"})");
}

TEST(YamlToJsonTest, ReadsYaml11IntegerAndBooleanForms) {
  EXPECT_EQ(ToJson("a: 0x1F\nb: 0o17\nc: 1_000\nd: 0080\ne: -3\nf: yes\ng: Off\nh: y\n"),
            R"({"a":31,"b":15,"c":1000,"d":80,"e":-3,"f":true,"g":false,"h":"y"})");
}

TEST(YamlToJsonTest, BlockScalarsAndEscapesBecomeJsonStrings) {
  EXPECT_EQ(ToJson("a: |\n  line \"1\"\n  line\\2\nb: [x, {y: z}]\n"),
            R"({"a":"line \"1\"\nline\\2\n","b":["x",{"y":"z"}]})");
}

TEST(YamlToJsonTest, EmptyDocumentIsNone) {
  absl::StatusOr<std::optional<std::string>> json = YamlDocumentToJson("# only a comment\n");
  ASSERT_TRUE(json.ok());
  EXPECT_FALSE(json->has_value());
}

TEST(YamlToJsonTest, SyntaxErrorIsReported) {
  absl::StatusOr<std::optional<std::string>> json = YamlDocumentToJson("a: [unclosed\n");
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("not valid YAML"));
}

TEST(YamlToJsonTest, SplitsStreamAtSeparatorLinesWithLineNumbers) {
  std::vector<YamlDocument> docs =
      SplitYamlDocuments("a: 1\n---\nb: 2\n--- # c\n\n---\r\nc: 3\n...\n");
  ASSERT_THAT(docs, SizeIs(3));
  EXPECT_EQ(docs[0].text, "a: 1\n");
  EXPECT_EQ(docs[0].first_line, 1);
  EXPECT_EQ(docs[1].text, "b: 2\n");
  EXPECT_EQ(docs[1].first_line, 3);
  EXPECT_EQ(docs[2].first_line, 7);
  EXPECT_EQ(docs[2].text, "c: 3\n");
}

}  // namespace
}  // namespace kproxy::apiclient
