// What this kube-proxy binary is: kproxy's version, the commit it was built from and the
// Kubernetes release line it tracks, in the shape of upstream's version.Info (k8s.io/apimachinery).
#pragma once

#include <string>

namespace kproxy::version {

// Upstream's version.Info fields. Go's toolchain fields carry the C++ toolchain: go_version is the
// compiler and its version (upstream: "go1.24.2"), compiler the compiler family (upstream: "gc").
struct Info {
  std::string major;           // of kproxy's own version, not Kubernetes'
  std::string minor;
  std::string git_version;     // "v0.1.0", "-dirty" appended when built from a modified tree
  std::string git_commit;      // 40 hex digits, or "unknown" outside git
  std::string git_tree_state;  // clean | dirty | "" (unknown)
  std::string build_date;      // SOURCE_DATE_EPOCH, else the commit's time (reproducible)
  std::string go_version;      // e.g. "gcc 12.2.0"
  std::string compiler;        // e.g. "gcc"
  std::string platform;        // e.g. "linux/amd64"
  std::string kubernetes_release_line;  // e.g. "v1.33-v1.35"
};

// The build's version, fixed at build time.
const Info& Get();

// What `kube-proxy --version` prints (one line, no newline): version, commit, release line.
std::string Summary(const Info& info);

// What `kube-proxy --version=raw` prints (no newline): upstream's Go-syntax dump of version.Info
// (`fmt.Printf("%#v", version.Get())`), field for field; the emulation fields are empty as in
// upstream's kube-proxy.
std::string Raw(const Info& info);

}  // namespace kproxy::version
