// --vmodule as klog's: "pattern=N" raises the verbosity of matching files only, a zero level adds
// nothing, the first matching pattern wins, and a malformed entry is an error.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "logging/log.h"

namespace kproxy::logging {
namespace {

using ::testing::HasSubstr;

class VmoduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetVerbosity(0);
    SetSinkForTesting(&sink_);
  }
  void TearDown() override {
    SetVmodule({});
    SetVerbosity(0);
    SetSinkForTesting(nullptr);
  }
  std::string sink_;
};

TEST_F(VmoduleTest, RaisesVerbosityOfMatchingFilesOnly) {
  auto rules = ParseVmodule({"proxy_serv*=4,other=9"});
  ASSERT_TRUE(rules.ok()) << rules.status();
  SetVmodule(*rules);
  EXPECT_TRUE(VerboseEnabled(4, "/src/cmd/kube-proxy/proxy_server.cc"));
  EXPECT_FALSE(VerboseEnabled(5, "/src/cmd/kube-proxy/proxy_server.cc"));
  EXPECT_FALSE(VerboseEnabled(1, "/src/backends/iptables/iptables_proxier.cc"));
  EXPECT_TRUE(VerboseEnabled(9, "/src/x/other.h"));
  EXPECT_FALSE(VerboseEnabled(1, "/src/x/another.cc"));  // a glob matches the whole name
}

TEST_F(VmoduleTest, ThisFileLogsAtItsVmoduleLevelAndOthersStayQuiet) {
  SetVmodule(*ParseVmodule({"vmodule_test=3"}));
  KLOG_V(3) << "shown at level 3";
  KLOG_V(4) << "hidden at level 4";
  EXPECT_THAT(sink_, HasSubstr("shown at level 3"));
  EXPECT_THAT(sink_, ::testing::Not(HasSubstr("hidden")));
  SetVmodule(*ParseVmodule({"someother=3"}));
  KLOG_V(3) << "no longer shown";
  EXPECT_THAT(sink_, ::testing::Not(HasSubstr("no longer shown")));
}

TEST_F(VmoduleTest, GlobalVerbosityStillAppliesAndVmoduleCannotLowerIt) {
  SetVerbosity(2);
  SetVmodule(*ParseVmodule({"proxy_server=1"}));
  EXPECT_TRUE(VerboseEnabled(2, "/src/proxy_server.cc"));
}

TEST_F(VmoduleTest, PatternWithSlashMatchesThePathWithoutExtension) {
  SetVmodule(*ParseVmodule({"*/iptables/*=5"}));
  EXPECT_TRUE(VerboseEnabled(5, "/src/backends/iptables/iptables_proxier.cc"));
  EXPECT_FALSE(VerboseEnabled(5, "/src/backends/ipvs/ipvs_proxier.cc"));
}

TEST_F(VmoduleTest, FirstMatchingPatternWinsAndZeroLevelsAreDropped) {
  auto rules = ParseVmodule({"proxy*=2", "proxy_server=6", "x=0"});
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(rules->size(), 2u);
  SetVmodule(*rules);
  EXPECT_EQ(VmoduleLevel("/a/proxy_server.cc"), 2);
}

TEST_F(VmoduleTest, MalformedEntriesAreRejected) {
  for (const char* bad : {"proxier", "=3", "proxier=", "proxier=x", "proxier=-1", "a=1=2"}) {
    auto rules = ParseVmodule({bad});
    EXPECT_FALSE(rules.ok()) << bad;
    if (!rules.ok()) {
      EXPECT_THAT(rules.status().message(), HasSubstr("pattern=N")) << bad;
    }
  }
  EXPECT_TRUE(ParseVmodule({""}).ok());
}

}  // namespace
}  // namespace kproxy::logging
