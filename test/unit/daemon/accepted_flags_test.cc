// Flags upstream accepts that kproxy used to accept and ignore: each now takes effect or is
// refused (or warned about) with a message naming it.
#include <string>
#include <vector>

#include "cmd/kube-proxy/feature_gates.h"
#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Parses and validates `args`: the error message, or "" when both succeed.
std::string ParseAndValidate(const std::vector<std::string>& args, Options* out = nullptr) {
  absl::StatusOr<Options> o = ParseOptions(args);
  if (!o.ok()) return std::string(o.status().message());
  if (absl::Status s = ValidateConfiguration(o->config); !s.ok()) return std::string(s.message());
  if (out != nullptr) *out = *o;
  return "";
}

TEST(FeatureGatesTest, UnknownGatesAreRefusedByName) {
  EXPECT_THAT(ParseAndValidate({"--feature-gates=NotAGate=true"}), HasSubstr("unrecognized feature gate: NotAGate"));
  EXPECT_THAT(ParseAndValidate({"--feature-gates=KubeProxyDrainingTerminatingNodes=true"}),
              HasSubstr("unrecognized feature gate"));  // removed before 1.33
}

TEST(FeatureGatesTest, GaLockedGatesCannotBeTurnedOff) {
  for (const char* gate : {"NFTablesProxyMode", "TopologyAwareHints", "ServiceTrafficDistribution",
                           "PreferSameTrafficDistribution", "LoadBalancerIPMode"}) {
    EXPECT_THAT(ParseAndValidate({std::string("--feature-gates=") + gate + "=false"}),
                HasSubstr(std::string("cannot set feature gate ") + gate + " to false, feature is locked to true"));
    EXPECT_EQ(ParseAndValidate({std::string("--feature-gates=") + gate + "=true"}), "");
    EXPECT_TRUE(FeatureGateEnabled({}, gate));
  }
  EXPECT_THAT(FeatureGateWarnings({{"NFTablesProxyMode", true}}),
              Contains(HasSubstr("Setting GA feature gate NFTablesProxyMode=true")));
}

TEST(FeatureGatesTest, AlphaFeaturesKproxyDoesNotImplementAreRefused) {
  EXPECT_THAT(ParseAndValidate({"--feature-gates=ComponentFlagz=true"}), HasSubstr("not supported by kproxy"));
  EXPECT_THAT(ParseAndValidate({"--feature-gates=AllAlpha=true"}), HasSubstr("not supported by kproxy"));
  EXPECT_EQ(ParseAndValidate({"--feature-gates=ComponentFlagz=false,AllAlpha=false"}), "");
}

TEST(FeatureGatesTest, TheFileIsCheckedLikeTheFlag) {
  auto c = ParseConfiguration(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nfeatureGates:\n  Bogus: true\n");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status s = ValidateConfiguration(*c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("featureGates (--feature-gates)"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("unrecognized feature gate: Bogus"));
}

TEST(FeatureGatesTest, WindowsGatesAreAcceptedWithAWarning) {
  EXPECT_EQ(ParseAndValidate({"--feature-gates=WinDSR=true,WinOverlay=false"}), "");
  EXPECT_THAT(FeatureGateWarnings({{"WinDSR", true}}), Contains(HasSubstr("no effect on Linux")));
}

TEST(AcceptedFlagsTest, ConfigSyncPeriodOtherThanTheDefaultIsWarnedAbout) {
  Options o;
  ASSERT_EQ(ParseAndValidate({}, &o), "");
  EXPECT_THAT(ConfigurationWarnings(o.config), IsEmpty());
  ASSERT_EQ(ParseAndValidate({"--config-sync-period=1m"}, &o), "");
  EXPECT_THAT(ConfigurationWarnings(o.config), Contains(HasSubstr("configSyncPeriod (--config-sync-period) 1m0s")));
  EXPECT_THAT(ParseAndValidate({"--config-sync-period=0s"}), HasSubstr("configSyncPeriod"));
}

TEST(AcceptedFlagsTest, ProfilingIsSaidToBeUnsupported) {
  Options o;
  ASSERT_EQ(ParseAndValidate({"--profiling"}, &o), "");
  EXPECT_THAT(ConfigurationWarnings(o.config), Contains(HasSubstr("not supported by kproxy")));
  EXPECT_THAT(HelpText(), Not(HasSubstr("enables profiling via web interface")));
}

TEST(AcceptedFlagsTest, ShowHiddenMetricsForVersionAcceptsOnlyThePreviousMinor) {
  EXPECT_EQ(ParseAndValidate({"--show-hidden-metrics-for-version=1.34"}), "");
  EXPECT_THAT(ParseAndValidate({"--show-hidden-metrics-for-version=1.33"}),
              HasSubstr("must be omitted or have the value '1.34'"));
  EXPECT_THAT(ParseAndValidate({"--show-hidden-metrics-for-version=banana"}), HasSubstr("showHiddenMetricsForVersion"));
}

TEST(AcceptedFlagsTest, LogFlushFrequencyMustBePositive) {
  EXPECT_EQ(ParseAndValidate({"--log-flush-frequency=1s"}), "");
  EXPECT_THAT(ParseAndValidate({"--log-flush-frequency=0s"}), HasSubstr("logging.flushFrequency"));
  EXPECT_THAT(HelpText(), HasSubstr("kproxy writes every log line at once"));
}

TEST(AcceptedFlagsTest, SplitStreamNeedsLoggingAlphaOptions) {
  EXPECT_THAT(ParseAndValidate({"--log-text-split-stream"}), HasSubstr("Feature LoggingAlphaOptions is disabled"));
  Options o;
  ASSERT_EQ(ParseAndValidate({"--log-text-split-stream", "--feature-gates=LoggingAlphaOptions=true"}, &o), "");
  EXPECT_TRUE(o.config.logging.text_split_stream);
  auto c = ParseConfiguration(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nfeatureGates:\n"
      "  LoggingAlphaOptions: true\nlogging:\n  options:\n    text:\n      splitStream: true\n"
      "      infoBufferSize: \"0\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->logging.text_split_stream);
  EXPECT_TRUE(ValidateConfiguration(*c).ok());
  // It survives --write-config-to.
  auto back = ParseConfiguration(ConfigurationToYaml(*c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *c);
}

TEST(AcceptedFlagsTest, InfoBufferSizeOtherThanZeroIsRefused) {
  EXPECT_EQ(ParseAndValidate({"--log-text-info-buffer-size=0"}), "");
  EXPECT_THAT(ParseAndValidate({"--log-text-info-buffer-size=1Ki"}),
              HasSubstr("logging.options.text.infoBufferSize (--log-text-info-buffer-size): invalid value \"1024\""));
  EXPECT_THAT(ParseAndValidate({"--log-json-info-buffer-size=4M"}), HasSubstr("only 0 is supported"));
  EXPECT_THAT(ParseAndValidate({"--log-text-info-buffer-size=lots"}), HasSubstr("invalid quantity"));
}

}  // namespace
}  // namespace kproxy::daemon
