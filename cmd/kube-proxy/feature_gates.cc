#include "cmd/kube-proxy/feature_gates.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kproxy::daemon {
namespace {

enum class Stage { kAlpha, kBeta, kGA };

struct GateSpec {
  const char* name;
  Stage stage;
  bool default_on;
  bool locked;       // GA and locked to its default: setting the other value is an error
  bool implemented;  // kproxy behaves as upstream with the gate on
  const char* note;  // for warnings and errors
};

// As of Kubernetes 1.35 (pkg/features and component-base), the gates that change kube-proxy's
// behaviour or that kube-proxy's flags depend on. Gates kube-proxy does not look at are refused as
// unknown rather than silently accepted.
constexpr GateSpec kGates[] = {
    {"AllAlpha", Stage::kAlpha, false, false, false, "turns on every alpha feature"},
    {"AllBeta", Stage::kBeta, false, false, true, "turns on every beta feature"},
    {"ContextualLogging", Stage::kBeta, true, false, true, "log call-site context"},
    {"LoggingAlphaOptions", Stage::kAlpha, false, false, true,
     "allows --log-text-split-stream / --log-json-split-stream"},
    {"LoggingBetaOptions", Stage::kBeta, true, false, true, "logging options in beta"},
    {"ComponentFlagz", Stage::kAlpha, false, false, false, "the /flagz endpoint"},
    {"ComponentStatusz", Stage::kAlpha, false, false, false, "the /statusz endpoint"},
    {"ComponentSLIs", Stage::kGA, true, true, true, "component SLI metrics"},
    {"LoadBalancerIPMode", Stage::kGA, true, true, true, "ingress ipMode: Proxy is honoured"},
    {"NFTablesProxyMode", Stage::kGA, true, true, true, "the nftables proxy mode exists"},
    {"PreferSameTrafficDistribution", Stage::kGA, true, true, true,
     "trafficDistribution PreferSameZone / PreferSameNode"},
    {"ServiceTrafficDistribution", Stage::kGA, true, true, true, "Service spec.trafficDistribution"},
    {"TopologyAwareHints", Stage::kGA, true, true, true, "EndpointSlice zone hints"},
    {"WinDSR", Stage::kBeta, true, false, true, "Windows only"},
    {"WinOverlay", Stage::kBeta, true, false, true, "Windows only"},
};

const GateSpec* Find(absl::string_view name) {
  for (const GateSpec& g : kGates) {
    if (name == g.name) return &g;
  }
  return nullptr;
}

}  // namespace

absl::Status ValidateFeatureGates(const std::map<std::string, bool>& gates) {
  std::vector<std::string> errors;
  for (const auto& [name, on] : gates) {
    const GateSpec* g = Find(name);
    if (g == nullptr) {
      std::vector<std::string> known;
      for (const GateSpec& k : kGates) known.push_back(k.name);
      errors.push_back(absl::StrCat("unrecognized feature gate: ", name, " (the gates kube-proxy 1.35 uses: ",
                                    absl::StrJoin(known, ", "), ")"));
    } else if (g->locked && on != g->default_on) {
      errors.push_back(absl::StrCat("cannot set feature gate ", name, " to ", on ? "true" : "false",
                                    ", feature is locked to ", g->default_on ? "true" : "false"));
    } else if (on && !g->implemented) {
      errors.push_back(absl::StrCat("feature gate ", name, "=true: not supported by kproxy (", g->note, ")"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

std::vector<std::string> FeatureGateWarnings(const std::map<std::string, bool>& gates) {
  std::vector<std::string> out;
  for (const auto& [name, on] : gates) {
    const GateSpec* g = Find(name);
    if (g == nullptr) continue;
    if (g->stage == Stage::kGA) {
      out.push_back(absl::StrCat("Setting GA feature gate ", name, "=", on ? "true" : "false",
                                 ". It will be removed in a future release."));
    } else if (absl::string_view(g->note) == "Windows only") {
      out.push_back(absl::StrCat("Feature gate ", name, " has no effect on Linux"));
    }
  }
  return out;
}

bool FeatureGateEnabled(const std::map<std::string, bool>& gates, absl::string_view name) {
  if (auto it = gates.find(std::string(name)); it != gates.end()) return it->second;
  const GateSpec* g = Find(name);
  return g != nullptr && g->default_on;  // AllAlpha=true is refused, so no alpha is on by it
}

}  // namespace kproxy::daemon
