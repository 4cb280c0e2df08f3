#include "backends/iptables/subprocess.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

TEST(SubprocessTest, FeedsStdinAndCapturesStdout) {
  std::string big(300000, 'x');  // larger than a pipe buffer: needs the poll loop
  auto r = RunSubprocess({"cat"}, big, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text.size(), big.size());
}

TEST(SubprocessTest, PiecesAreWrittenInOrderWithoutJoining) {
  // More pieces than one writev takes, empty ones among them, and more bytes than a pipe holds.
  std::vector<std::string> owned;
  for (int i = 0; i < 300; ++i) owned.push_back(i % 7 == 0 ? "" : std::string(1000 + i, static_cast<char>('a' + i % 26)));
  std::vector<absl::string_view> pieces(owned.begin(), owned.end());
  auto r = RunSubprocess({"cat"}, absl::MakeConstSpan(pieces), absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text, absl::StrJoin(owned, ""));
}

TEST(SubprocessTest, ReportsExitStatusAndStderrWithoutAShell) {
  auto r = RunSubprocess({"sh", "-c", "echo oops >&2; exit 3"}, "", absl::Seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stderr_text, "oops\n");
  // Arguments are passed verbatim, never interpreted.
  auto echo = RunSubprocess({"echo", "$HOME;", "`id`"}, "", absl::Seconds(10));
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->stdout_text, "$HOME; `id`\n");
}

TEST(SubprocessTest, ChildNotReadingItsInputDoesNotKillUs) {
  std::string big(1 << 20, 'x');
  auto r = RunSubprocess({"sh", "-c", "exit 4"}, big, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 4);
}

TEST(SubprocessTest, MissingProgramIsAnError) {
  auto r = RunSubprocess({"kproxy-no-such-program"}, "", absl::Seconds(10));
  EXPECT_FALSE(r.ok());
}

TEST(SubprocessTest, KillsAtTheDeadline) {
  auto r = RunSubprocess({"sleep", "30"}, "", absl::Milliseconds(200));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace kproxy::backends::iptables
