// kubernetes_build_info: upstream's constant-1 gauge labelled with what the binary is, so the
// dashboards and alerts that read kube-proxy's version from it keep working.
#pragma once

#include "prometheus/registry.h"
#include "version/version.h"

namespace kproxy::daemon {

// Adds kubernetes_build_info{major, minor, git_version, git_commit, git_tree_state, build_date,
// go_version, compiler, platform} = 1 to the registry (labels as version::Info documents them).
void RegisterBuildInfo(const version::Info& info, prometheus::Registry& registry);

}  // namespace kproxy::daemon
