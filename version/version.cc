#include "version/version.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "version/build_version.h"

namespace kproxy::version {
namespace {

// Go's %q of a string (strconv.Quote) for the ASCII the fields can hold.
std::string GoQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

const Info& Get() {
  static const Info* const info = new Info{
      .major = KPROXY_VERSION_MAJOR,
      .minor = KPROXY_VERSION_MINOR,
      .git_version = KPROXY_GIT_VERSION,
      .git_commit = KPROXY_GIT_COMMIT,
      .git_tree_state = KPROXY_GIT_TREE_STATE,
      .build_date = KPROXY_BUILD_DATE,
      .go_version = absl::StrCat(KPROXY_COMPILER, " ", KPROXY_COMPILER_VERSION),
      .compiler = KPROXY_COMPILER,
      .platform = KPROXY_PLATFORM,
      .kubernetes_release_line = KPROXY_KUBERNETES_RELEASE_LINE,
  };
  return *info;
}

std::string Summary(const Info& info) {
  std::string tree = info.git_tree_state.empty() ? "" : absl::StrCat(", ", info.git_tree_state, " tree");
  return absl::StrCat("kproxy ", info.git_version, " (commit ", info.git_commit, tree,
                      "), kube-proxy of Kubernetes ", info.kubernetes_release_line);
}

std::string Raw(const Info& info) {
  return absl::StrCat("version.Info{Major:", GoQuote(info.major), ", Minor:", GoQuote(info.minor),
                      ", EmulationMajor:\"\", EmulationMinor:\"\", MinCompatibilityMajor:\"\", "
                      "MinCompatibilityMinor:\"\", GitVersion:", GoQuote(info.git_version),
                      ", GitCommit:", GoQuote(info.git_commit), ", GitTreeState:",
                      GoQuote(info.git_tree_state), ", BuildDate:", GoQuote(info.build_date),
                      ", GoVersion:", GoQuote(info.go_version), ", Compiler:", GoQuote(info.compiler),
                      ", Platform:", GoQuote(info.platform), "}");
}

}  // namespace kproxy::version
