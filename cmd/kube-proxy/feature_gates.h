// FeatureGates: the --feature-gates / featureGates names kube-proxy 1.35 knows that matter to it,
// checked as upstream's component-base checks them (unknown names and switching off a GA-locked
// gate are errors), plus what kproxy cannot honour (an alpha feature it does not implement).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kproxy::daemon {

// Errors (one per offending gate): unknown gate; a GA-locked gate set to false; a gate whose
// feature kproxy does not implement set to true.
absl::Status ValidateFeatureGates(const std::map<std::string, bool>& gates);

// What is accepted but worth saying: a GA gate set explicitly (it will go away, as upstream
// warns), a gate that has no effect on Linux.
std::vector<std::string> FeatureGateWarnings(const std::map<std::string, bool>& gates);

// Whether `name` is on: its explicit setting, else its 1.35 default (false for unknown names).
bool FeatureGateEnabled(const std::map<std::string, bool>& gates, absl::string_view name);

}  // namespace kproxy::daemon
