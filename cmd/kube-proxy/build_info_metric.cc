#include "cmd/kube-proxy/build_info_metric.h"

#include "prometheus/gauge.h"

namespace kproxy::daemon {

void RegisterBuildInfo(const version::Info& info, prometheus::Registry& registry) {
  prometheus::BuildGauge()
      .Name("kubernetes_build_info")
      .Help("A metric with a constant '1' value labelled by the version, source commit, build date "
            "and toolchain of this kube-proxy (kproxy) and the platform it runs on.")
      .Register(registry)
      .Add({{"major", info.major},
            {"minor", info.minor},
            {"git_version", info.git_version},
            {"git_commit", info.git_commit},
            {"git_tree_state", info.git_tree_state},
            {"build_date", info.build_date},
            {"go_version", info.go_version},
            {"compiler", info.compiler},
            {"platform", info.platform}})
      .Set(1);
}

}  // namespace kproxy::daemon
