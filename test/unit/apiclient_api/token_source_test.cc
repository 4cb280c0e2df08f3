#include "apiclient/token_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

namespace kproxy::apiclient {
namespace {

class TokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kproxy-token-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/token";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text) {
    // Write-and-rename, like the kubelet's projected volume update.
    std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    rename(tmp.c_str(), path_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(TokenSourceTest, StaticTokenWithoutFile) {
  BearerTokenSource source("abc", "");
  EXPECT_EQ(*source.Token(), "abc");
}

TEST_F(TokenSourceTest, ReadsFileAndTrimsWhitespace) {
  Write("tok-1\n");
  BearerTokenSource source("", path_);
  EXPECT_EQ(*source.Token(), "tok-1");
}

TEST_F(TokenSourceTest, RereadsOnlyAfterTheRecheckInterval) {
  absl::Time now = absl::UnixEpoch();
  Write("tok-1");
  BearerTokenSource source("", path_, absl::Seconds(5), [&now] { return now; });
  EXPECT_EQ(*source.Token(), "tok-1");
  Write("tok-22");
  now += absl::Seconds(1);
  EXPECT_EQ(*source.Token(), "tok-1");
  now += absl::Seconds(5);
  EXPECT_EQ(*source.Token(), "tok-22");
}

TEST_F(TokenSourceTest, InvalidateForcesAReread) {
  absl::Time now = absl::UnixEpoch();
  Write("tok-1");
  BearerTokenSource source("", path_, absl::Minutes(5), [&now] { return now; });
  EXPECT_EQ(*source.Token(), "tok-1");
  Write("tok-2");
  source.Invalidate();
  EXPECT_EQ(*source.Token(), "tok-2");
}

TEST_F(TokenSourceTest, KeepsLastGoodTokenWhenFileDisappears) {
  absl::Time now = absl::UnixEpoch();
  Write("tok-1");
  BearerTokenSource source("", path_, absl::Seconds(1), [&now] { return now; });
  EXPECT_EQ(*source.Token(), "tok-1");
  unlink(path_.c_str());
  now += absl::Seconds(2);
  EXPECT_EQ(*source.Token(), "tok-1");
}

TEST_F(TokenSourceTest, MissingFileAtStartIsAnErrorNamingTheFile) {
  BearerTokenSource source("", path_);
  absl::StatusOr<std::string> token = source.Token();
  ASSERT_FALSE(token.ok());
  EXPECT_NE(token.status().message().find(path_), std::string::npos);
}

}  // namespace
}  // namespace kproxy::apiclient
