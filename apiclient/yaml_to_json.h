// YAML → JSON conversion so YAML manifests go through the one JSON decoding path. Scalars are typed
// as sigs.k8s.io/yaml (kubectl) types them: plain 80/true/null are typed, quoted ones are strings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kproxy::apiclient {

// One document of a YAML stream, as cut at "---" lines (the way kubectl splits manifests, so a
// syntax error in one document does not lose the others).
struct YamlDocument {
  std::string text;
  int first_line = 1;  // 1-based line of the document's first line in the stream
};

std::vector<YamlDocument> SplitYamlDocuments(absl::string_view stream);

// Converts one YAML document to JSON text. nullopt for an empty document (only comments or
// whitespace); an error (with yaml-cpp's line/column) when the text is not YAML.
absl::StatusOr<std::optional<std::string>> YamlDocumentToJson(absl::string_view document);

}  // namespace kproxy::apiclient
