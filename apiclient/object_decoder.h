// ObjectDecoder: turns API JSON (and YAML, through one JSON path) into the model's Service,
// EndpointSlice and Node, rejecting malformed objects one by one with errors naming object and
// field.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxier/api_types.h"

namespace kproxy::apiclient {

// An object that could not be decoded. kind/namespace/name are filled as far as they were read,
// so a caller can keep the last good version of that object.
struct RejectedObject {
  std::string kind;            // "Service", "EndpointSlice", "Node"
  std::string namespace_name;  // empty for Nodes and when unknown
  std::string name;            // empty when metadata.name itself was the problem
  std::string message;         // full text: "Service default/web: spec.ports[1].port: ..."
};

// Everything decoded from one or more documents. Objects that failed are left out and listed.
struct DecodedObjects {
  std::vector<proxier::Service> services;
  std::vector<proxier::EndpointSlice> endpoint_slices;
  std::vector<proxier::Node> nodes;
  // Every problem, human-readable: rejected objects and documents that did not parse.
  std::vector<std::string> errors;
  std::vector<RejectedObject> rejected;
  // Documents that were not JSON/YAML at all (or not an object); their objects are unknown.
  size_t document_errors = 0;
  // Objects of kinds a proxy does not use (Deployment, ConfigMap, ...), skipped silently.
  size_t skipped_objects = 0;
  // metadata.resourceVersion and metadata.continue of a List document (empty otherwise).
  std::string resource_version;
  std::string continue_token;
};

// One decoded object, as the watch stream delivers them.
struct DecodedObject {
  std::variant<proxier::Service, proxier::EndpointSlice, proxier::Node> object;
};

// One line of a watch stream: {"type": "ADDED", "object": {...}}.
struct WatchEvent {
  std::string type;  // ADDED MODIFIED DELETED BOOKMARK ERROR
  // Set for ADDED/MODIFIED/DELETED when the object decoded; unset for BOOKMARK and ERROR, and
  // when the object was malformed (then `error` says why).
  std::optional<DecodedObject> object;
  // object.metadata.resourceVersion (also for BOOKMARK, and for objects that failed to decode).
  std::string resource_version;
  // ERROR events: the Status object's message; object events: the decode error, if any.
  absl::Status error;
  // ERROR events: the Status object's code (410 == Gone: relist) and reason ("Expired").
  int32_t error_code = 0;
  std::string error_reason;
  // BOOKMARK events: metadata.annotations["k8s.io/initial-events-end"] == "true".
  bool initial_events_end = false;
};

// Decodes one JSON document: a single object or a List (List, ServiceList, EndpointSliceList,
// NodeList). Fails only when the text is not a JSON object; per-object problems go to errors.
absl::StatusOr<DecodedObjects> DecodeJsonDocument(absl::string_view json);
// The same, reusing a parser (its buffers stay allocated) and a caller-padded buffer (no copy).
absl::StatusOr<DecodedObjects> DecodeJsonDocument(simdjson::dom::parser& parser,
                                                  const simdjson::padded_string& json);

// Decodes a YAML stream of documents separated by "---" lines (JSON is YAML too). A document
// that does not parse is reported in errors/document_errors; the other documents still load.
DecodedObjects DecodeYamlDocuments(absl::string_view yaml);

// Decodes one already-parsed object (Service, EndpointSlice or Node). Unknown kinds give
// kUnimplemented; malformed objects kInvalidArgument with the object and field in the message.
absl::StatusOr<DecodedObject> DecodeObject(simdjson::dom::element element);
// The same, for items of a typed list (ServiceList...) whose kind/apiVersion may be absent.
absl::StatusOr<DecodedObject> DecodeObject(simdjson::dom::element element,
                                           absl::string_view default_kind,
                                           absl::string_view default_api_version);

// Decodes one watch event line. Fails only when the line is not a JSON object with a "type";
// a malformed object inside a valid event is reported in WatchEvent::error instead.
absl::StatusOr<WatchEvent> DecodeWatchEventLine(simdjson::dom::parser& parser,
                                                absl::string_view line);

}  // namespace kproxy::apiclient
