#include "apiclient/object_decoder.h"

#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "apiclient/json_list_splitter.h"
#include "apiclient/yaml_to_json.h"
#include "logging/log.h"

namespace kproxy::apiclient {
namespace {

using proxier::AddressType;
using proxier::Cidr;
using proxier::EndpointSlice;
using proxier::IpAddress;
using proxier::Node;
using proxier::ObjectMeta;
using proxier::Protocol;
using proxier::Service;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

#define KP_RETURN_IF_ERROR(expr)     \
  do {                               \
    absl::Status _kp_st = (expr);    \
    if (!_kp_st.ok()) return _kp_st; \
  } while (0)

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A field path built on the stack while descending; rendered only when an error is reported,
// so the success path allocates nothing for it.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;  // field name, or map key when is_map_key
  int index = -1;        // array index when >= 0
  bool is_map_key = false;

  Path Field(std::string_view k) const { return Path{this, k, -1, false}; }
  Path Index(int i) const { return Path{this, {}, i, false}; }
  Path MapKey(std::string_view k) const { return Path{this, k, -1, true}; }
};

void RenderPath(const Path* p, std::string* out) {
  if (p == nullptr) return;
  RenderPath(p->parent, out);
  if (p->index >= 0) {
    absl::StrAppend(out, "[", p->index, "]");
  } else if (p->is_map_key) {
    absl::StrAppend(out, "[\"", AV(p->key), "\"]");
  } else if (!p->key.empty()) {
    if (!out->empty()) out->push_back('.');
    absl::StrAppend(out, AV(p->key));
  }
}

absl::Status FieldError(const Path& path, absl::string_view message) {
  std::string text;
  RenderPath(&path, &text);
  absl::StrAppend(&text, ": ", message);
  return absl::InvalidArgumentError(text);
}

absl::string_view TypeName(element e) {
  switch (e.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
      return "integer";
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "bool";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

absl::Status TypeError(const Path& path, absl::string_view want, element e) {
  return FieldError(path, absl::StrCat("expected ", want, ", got ", TypeName(e)));
}

// The field's value, or nullopt when it is absent or null (the API treats both as unset).
std::optional<element> Get(object o, std::string_view key) {
  element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  return e;
}

absl::Status AsString(element e, const Path& path, std::string_view* out) {
  if (e.get_string().get(*out) != simdjson::SUCCESS) return TypeError(path, "string", e);
  return absl::OkStatus();
}

absl::Status AsInt(element e, const Path& path, int64_t* out) {
  if (e.is_int64()) {
    *out = e.get_int64().value_unsafe();
    return absl::OkStatus();
  }
  if (e.is_uint64())
    return FieldError(path, absl::StrCat(e.get_uint64().value_unsafe(), " is out of range"));
  return TypeError(path, "integer", e);
}

absl::Status AsObject(element e, const Path& path, object* out) {
  if (e.get_object().get(*out) != simdjson::SUCCESS) return TypeError(path, "object", e);
  return absl::OkStatus();
}

absl::Status AsArray(element e, const Path& path, array* out) {
  if (e.get_array().get(*out) != simdjson::SUCCESS) return TypeError(path, "array", e);
  return absl::OkStatus();
}

// Optional string field: leaves *out untouched when absent.
absl::Status ReadString(object o, std::string_view key, const Path& parent, std::string* out) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  std::string_view s;
  KP_RETURN_IF_ERROR(AsString(*e, parent.Field(key), &s));
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status ReadOptString(object o, std::string_view key, const Path& parent,
                           std::optional<std::string>* out) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  std::string_view s;
  KP_RETURN_IF_ERROR(AsString(*e, parent.Field(key), &s));
  *out = std::string(s);
  return absl::OkStatus();
}

absl::Status ReadOptBool(object o, std::string_view key, const Path& parent,
                         std::optional<bool>* out) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  bool b;
  if (e->get_bool().get(b) != simdjson::SUCCESS) return TypeError(parent.Field(key), "bool", *e);
  *out = b;
  return absl::OkStatus();
}

// Integer field within [lo, hi]; absent leaves *out untouched.
absl::Status ReadIntInRange(object o, std::string_view key, const Path& parent, int64_t lo,
                            int64_t hi, int32_t* out, bool* present = nullptr) {
  std::optional<element> e = Get(o, key);
  if (present != nullptr) *present = e.has_value();
  if (!e) return absl::OkStatus();
  Path path = parent.Field(key);
  int64_t v = 0;
  KP_RETURN_IF_ERROR(AsInt(*e, path, &v));
  if (v < lo || v > hi) return FieldError(path, absl::StrCat(v, " is out of range ", lo, "-", hi));
  *out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

absl::Status ReadOptObject(object o, std::string_view key, const Path& parent,
                           std::optional<object>* out) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  object obj;
  KP_RETURN_IF_ERROR(AsObject(*e, parent.Field(key), &obj));
  *out = obj;
  return absl::OkStatus();
}

// Calls fn(element, path) for each entry of an optional array field.
template <typename Fn>
absl::Status ForEach(object o, std::string_view key, const Path& parent, Fn fn) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  Path path = parent.Field(key);
  array arr;
  KP_RETURN_IF_ERROR(AsArray(*e, path, &arr));
  int i = 0;
  for (element item : arr) {
    KP_RETURN_IF_ERROR(fn(item, path.Index(i)));
    ++i;
  }
  return absl::OkStatus();
}

absl::Status ReadStringList(object o, std::string_view key, const Path& parent,
                            std::vector<std::string>* out) {
  return ForEach(o, key, parent, [&](element item, const Path& path) {
    std::string_view s;
    KP_RETURN_IF_ERROR(AsString(item, path, &s));
    out->emplace_back(s);
    return absl::OkStatus();
  });
}

// kubectl apply's copy of the whole object: often kilobytes per object, never used by a proxy.
constexpr std::string_view kLastAppliedAnnotation =
    "kubectl.kubernetes.io/last-applied-configuration";

absl::Status ReadStringMap(object o, std::string_view key, const Path& parent,
                           absl::flat_hash_map<std::string, std::string>* out,
                           std::string_view skip_key = {}) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  Path path = parent.Field(key);
  object m;
  KP_RETURN_IF_ERROR(AsObject(*e, path, &m));
  for (auto field : m) {
    std::string_view v;
    KP_RETURN_IF_ERROR(AsString(field.value, path.MapKey(field.key), &v));
    if (!skip_key.empty() && field.key == skip_key) continue;
    out->emplace(std::string(field.key), std::string(v));
  }
  return absl::OkStatus();
}

// IPv4 with leading zeros ("010.096.000.010"): the API accepted these before 1.20 and still
// stores them in old objects; upstream reads them as decimal (netutils.ParseIPSloppy), so do we.
std::optional<IpAddress> ParseLegacyIpv4(absl::string_view text) {
  uint8_t bytes[4];
  int part = 0;
  size_t i = 0;
  while (part < 4) {
    size_t start = i;
    int value = 0;
    while (i < text.size() && i - start < 3 && absl::ascii_isdigit(text[i])) {
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start || value > 255) return std::nullopt;
    bytes[part++] = static_cast<uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return IpAddress::FromV4Bytes(bytes);
}

absl::StatusOr<IpAddress> ParseIpSloppy(absl::string_view text) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  if (ip.ok()) return ip;
  if (std::optional<IpAddress> legacy = ParseLegacyIpv4(text)) return *legacy;
  return ip.status();
}

absl::StatusOr<Cidr> ParseCidrSloppy(absl::string_view text) {
  absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
  if (cidr.ok()) return cidr;
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  size_t slash = trimmed.find('/');
  if (slash == absl::string_view::npos) return cidr.status();
  std::optional<IpAddress> legacy = ParseLegacyIpv4(trimmed.substr(0, slash));
  if (!legacy) return cidr.status();
  return Cidr::Parse(absl::StrCat(legacy->ToString(), trimmed.substr(slash)));
}

absl::Status ParseIp(std::string_view text, const Path& path, IpAddress* out) {
  absl::StatusOr<IpAddress> ip = ParseIpSloppy(AV(text));
  if (!ip.ok()) return FieldError(path, absl::StrCat("invalid IP address \"", AV(text), "\""));
  *out = *ip;
  return absl::OkStatus();
}

absl::Status ReadTime(object o, std::string_view key, const Path& parent,
                      std::optional<absl::Time>* out) {
  std::optional<element> e = Get(o, key);
  if (!e) return absl::OkStatus();
  Path path = parent.Field(key);
  std::string_view s;
  KP_RETURN_IF_ERROR(AsString(*e, path, &s));
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, AV(s), &t, &err)) {
    return FieldError(path, absl::StrCat("\"", AV(s), "\" is not an RFC 3339 time"));
  }
  *out = t;
  return absl::OkStatus();
}

absl::Status ParseProtocol(element e, const Path& path, Protocol* out) {
  std::string_view s;
  KP_RETURN_IF_ERROR(AsString(e, path, &s));
  if (s == "TCP") {
    *out = Protocol::kTCP;
  } else if (s == "UDP") {
    *out = Protocol::kUDP;
  } else if (s == "SCTP") {
    *out = Protocol::kSCTP;
  } else {
    return FieldError(path,
                      absl::StrCat("unsupported protocol \"", AV(s), "\" (want TCP, UDP or SCTP)"));
  }
  return absl::OkStatus();
}

// Reads metadata. Name and namespace are read first and stored even when a later field fails,
// so the error can name the object.
absl::Status DecodeMeta(object root, bool namespaced, ObjectMeta* meta) {
  const Path path{nullptr, "metadata"};
  std::optional<element> e = Get(root, "metadata");
  if (!e) return FieldError(path.Field("name"), "required");
  object m;
  KP_RETURN_IF_ERROR(AsObject(*e, path, &m));
  if (namespaced) {
    KP_RETURN_IF_ERROR(ReadString(m, "namespace", path, &meta->namespace_name));
    // Files often leave the namespace out; kubectl applies them to "default".
    if (meta->namespace_name.empty()) meta->namespace_name = "default";
  }
  KP_RETURN_IF_ERROR(ReadString(m, "name", path, &meta->name));
  if (meta->name.empty()) return FieldError(path.Field("name"), "required");
  KP_RETURN_IF_ERROR(ReadString(m, "uid", path, &meta->uid));
  KP_RETURN_IF_ERROR(ReadString(m, "resourceVersion", path, &meta->resource_version));
  std::optional<absl::Time> created;
  KP_RETURN_IF_ERROR(ReadTime(m, "creationTimestamp", path, &created));
  if (created) meta->creation_timestamp = *created;
  KP_RETURN_IF_ERROR(ReadTime(m, "deletionTimestamp", path, &meta->deletion_timestamp));
  KP_RETURN_IF_ERROR(ReadStringMap(m, "labels", path, &meta->labels));
  KP_RETURN_IF_ERROR(
      ReadStringMap(m, "annotations", path, &meta->annotations, kLastAppliedAnnotation));
  return absl::OkStatus();
}

absl::Status DecodeServiceSpec(object spec, const Path& path, Service* svc) {
  std::string type;
  KP_RETURN_IF_ERROR(ReadString(spec, "type", path, &type));
  if (type.empty() || type == "ClusterIP") {
    svc->type = proxier::ServiceType::kClusterIP;
  } else if (type == "NodePort") {
    svc->type = proxier::ServiceType::kNodePort;
  } else if (type == "LoadBalancer") {
    svc->type = proxier::ServiceType::kLoadBalancer;
  } else if (type == "ExternalName") {
    svc->type = proxier::ServiceType::kExternalName;
  } else {
    return FieldError(path.Field("type"), absl::StrCat("unsupported value \"", type, "\""));
  }

  // clusterIPs wins over clusterIP (the API keeps clusterIP == clusterIPs[0]).
  std::vector<std::string> cluster_ips;
  KP_RETURN_IF_ERROR(ReadStringList(spec, "clusterIPs", path, &cluster_ips));
  Path ips_path = path.Field("clusterIPs");
  if (cluster_ips.empty()) {
    std::string one;
    KP_RETURN_IF_ERROR(ReadString(spec, "clusterIP", path, &one));
    if (!one.empty()) cluster_ips.push_back(std::move(one));
    ips_path = path.Field("clusterIP");
  }
  for (size_t i = 0; i < cluster_ips.size(); ++i) {
    const std::string& text = cluster_ips[i];
    if (text == "None") {
      svc->headless = true;
      continue;
    }
    if (text.empty()) continue;
    IpAddress ip;
    Path p = ips_path.key == "clusterIPs" ? ips_path.Index(static_cast<int>(i)) : ips_path;
    KP_RETURN_IF_ERROR(ParseIp(text, p, &ip));
    svc->cluster_ips.push_back(ip);
  }
  if (svc->headless) svc->cluster_ips.clear();

  KP_RETURN_IF_ERROR(ForEach(spec, "ports", path, [&](element item, const Path& p) {
    object po;
    KP_RETURN_IF_ERROR(AsObject(item, p, &po));
    proxier::ServicePortSpec port;
    KP_RETURN_IF_ERROR(ReadString(po, "name", p, &port.name));
    if (std::optional<element> proto = Get(po, "protocol")) {
      KP_RETURN_IF_ERROR(ParseProtocol(*proto, p.Field("protocol"), &port.protocol));
    }
    bool has_port = false;
    KP_RETURN_IF_ERROR(ReadIntInRange(po, "port", p, 1, 65535, &port.port, &has_port));
    if (!has_port) return FieldError(p.Field("port"), "required");
    KP_RETURN_IF_ERROR(ReadIntInRange(po, "nodePort", p, 0, 65535, &port.node_port));
    svc->ports.push_back(std::move(port));
    return absl::OkStatus();
  }));

  KP_RETURN_IF_ERROR(ForEach(spec, "externalIPs", path, [&](element item, const Path& p) {
    std::string_view s;
    KP_RETURN_IF_ERROR(AsString(item, p, &s));
    IpAddress ip;
    KP_RETURN_IF_ERROR(ParseIp(s, p, &ip));
    svc->external_ips.push_back(ip);
    return absl::OkStatus();
  }));

  std::string lb_ip;
  KP_RETURN_IF_ERROR(ReadString(spec, "loadBalancerIP", path, &lb_ip));
  if (!lb_ip.empty()) {
    IpAddress ip;
    KP_RETURN_IF_ERROR(ParseIp(lb_ip, path.Field("loadBalancerIP"), &ip));
    svc->load_balancer_ip = ip;
  }

  KP_RETURN_IF_ERROR(
      ForEach(spec, "loadBalancerSourceRanges", path, [&](element item, const Path& p) {
        std::string_view s;
        KP_RETURN_IF_ERROR(AsString(item, p, &s));
        absl::StatusOr<Cidr> cidr = ParseCidrSloppy(AV(s));
        if (cidr.ok()) {
          svc->load_balancer_source_ranges.push_back(*cidr);
        } else {
          svc->invalid_source_ranges.emplace_back(s);
        }
        return absl::OkStatus();
      }));

  std::string affinity;
  KP_RETURN_IF_ERROR(ReadString(spec, "sessionAffinity", path, &affinity));
  if (affinity.empty() || affinity == "None") {
    svc->session_affinity = proxier::SessionAffinity::kNone;
  } else if (affinity == "ClientIP") {
    svc->session_affinity = proxier::SessionAffinity::kClientIP;
  } else {
    return FieldError(path.Field("sessionAffinity"),
                      absl::StrCat("unsupported value \"", affinity, "\""));
  }
  std::optional<object> affinity_config;
  KP_RETURN_IF_ERROR(ReadOptObject(spec, "sessionAffinityConfig", path, &affinity_config));
  if (affinity_config) {
    Path ac_path = path.Field("sessionAffinityConfig");
    std::optional<object> client_ip;
    KP_RETURN_IF_ERROR(ReadOptObject(*affinity_config, "clientIP", ac_path, &client_ip));
    if (client_ip) {
      // Upstream validation: 0 < timeoutSeconds <= 86400 (one day).
      KP_RETURN_IF_ERROR(ReadIntInRange(*client_ip, "timeoutSeconds", ac_path.Field("clientIP"), 1,
                                        86400, &svc->session_affinity_timeout_seconds));
    }
  }

  auto read_policy = [&](std::string_view key, bool allow_global, proxier::TrafficPolicy* out) {
    std::string v;
    KP_RETURN_IF_ERROR(ReadString(spec, key, path, &v));
    if (v.empty() || v == "Cluster" || (allow_global && v == "Global")) {
      *out = proxier::TrafficPolicy::kCluster;
    } else if (v == "Local") {
      *out = proxier::TrafficPolicy::kLocal;
    } else {
      return FieldError(path.Field(key), absl::StrCat("unsupported value \"", v, "\""));
    }
    return absl::OkStatus();
  };
  // "Global" is the pre-1.14 spelling of Cluster, still accepted by the API.
  KP_RETURN_IF_ERROR(read_policy("externalTrafficPolicy", true, &svc->external_traffic_policy));
  KP_RETURN_IF_ERROR(read_policy("internalTrafficPolicy", false, &svc->internal_traffic_policy));
  KP_RETURN_IF_ERROR(
      ReadIntInRange(spec, "healthCheckNodePort", path, 0, 65535, &svc->health_check_node_port));
  KP_RETURN_IF_ERROR(ReadOptString(spec, "trafficDistribution", path, &svc->traffic_distribution));
  return absl::OkStatus();
}

absl::Status DecodeServiceStatus(object status, const Path& path, Service* svc) {
  std::optional<object> lb;
  KP_RETURN_IF_ERROR(ReadOptObject(status, "loadBalancer", path, &lb));
  if (!lb) return absl::OkStatus();
  return ForEach(*lb, "ingress", path.Field("loadBalancer"), [&](element item, const Path& p) {
    object io;
    KP_RETURN_IF_ERROR(AsObject(item, p, &io));
    proxier::LoadBalancerIngress ingress;
    std::string ip;
    KP_RETURN_IF_ERROR(ReadString(io, "ip", p, &ip));
    if (!ip.empty()) {
      IpAddress addr;
      KP_RETURN_IF_ERROR(ParseIp(ip, p.Field("ip"), &addr));
      ingress.ip = addr;
    }
    KP_RETURN_IF_ERROR(ReadString(io, "hostname", p, &ingress.hostname));
    KP_RETURN_IF_ERROR(ReadOptString(io, "ipMode", p, &ingress.ip_mode));
    svc->load_balancer_ingress.push_back(std::move(ingress));
    return absl::OkStatus();
  });
}

absl::Status DecodeServiceBody(object root, Service* svc) {
  const Path spec_path{nullptr, "spec"};
  std::optional<object> spec;
  KP_RETURN_IF_ERROR(ReadOptObject(root, "spec", Path{}, &spec));
  if (spec) KP_RETURN_IF_ERROR(DecodeServiceSpec(*spec, spec_path, svc));
  std::optional<object> status;
  KP_RETURN_IF_ERROR(ReadOptObject(root, "status", Path{}, &status));
  if (status) KP_RETURN_IF_ERROR(DecodeServiceStatus(*status, Path{nullptr, "status"}, svc));
  return absl::OkStatus();
}

absl::Status ReadHintNames(object hints, std::string_view key, const Path& parent,
                           std::optional<std::vector<std::string>>* out) {
  if (!Get(hints, key)) return absl::OkStatus();
  out->emplace();
  return ForEach(hints, key, parent, [&](element item, const Path& p) {
    object ho;
    KP_RETURN_IF_ERROR(AsObject(item, p, &ho));
    std::string name;
    KP_RETURN_IF_ERROR(ReadString(ho, "name", p, &name));
    (*out)->push_back(std::move(name));
    return absl::OkStatus();
  });
}

absl::Status DecodeEndpointSliceBody(object root, EndpointSlice* slice) {
  auto it = slice->metadata.labels.find("kubernetes.io/service-name");
  if (it != slice->metadata.labels.end()) slice->service_name = it->second;

  const Path root_path{};
  std::string address_type;
  KP_RETURN_IF_ERROR(ReadString(root, "addressType", root_path, &address_type));
  if (address_type == "IPv4") {
    slice->address_type = AddressType::kIPv4;
  } else if (address_type == "IPv6") {
    slice->address_type = AddressType::kIPv6;
  } else if (address_type == "FQDN") {
    slice->address_type = AddressType::kFQDN;
  } else if (address_type.empty()) {
    return FieldError(root_path.Field("addressType"), "required");
  } else {
    return FieldError(root_path.Field("addressType"),
                      absl::StrCat("unsupported value \"", address_type, "\""));
  }

  // Sized up front: a slice's endpoints are most of the memory the decoded objects hold, and
  // vector growth would leave up to half of it as slack.
  if (std::optional<element> list = Get(root, "endpoints")) {
    array endpoints;
    if (list->get_array().get(endpoints) == simdjson::SUCCESS) slice->endpoints.reserve(endpoints.size());
  }
  KP_RETURN_IF_ERROR(ForEach(root, "endpoints", root_path, [&](element item, const Path& p) {
    object eo;
    KP_RETURN_IF_ERROR(AsObject(item, p, &eo));
    proxier::EndpointSliceEndpoint ep;
    KP_RETURN_IF_ERROR(ForEach(eo, "addresses", p, [&](element a, const Path& ap) {
      std::string_view s;
      KP_RETURN_IF_ERROR(AsString(a, ap, &s));
      // FQDN slices carry hostnames a proxy cannot use; they are kept without addresses.
      if (slice->address_type == AddressType::kFQDN) return absl::OkStatus();
      IpAddress ip;
      KP_RETURN_IF_ERROR(ParseIp(s, ap, &ip));
      bool want_v4 = slice->address_type == AddressType::kIPv4;
      if (ip.is_v4() != want_v4) {
        return FieldError(ap, absl::StrCat("\"", AV(s), "\" is not an ", want_v4 ? "IPv4" : "IPv6",
                                           " address (addressType ", address_type, ")"));
      }
      ep.addresses.push_back(ip);
      return absl::OkStatus();
    }));
    std::optional<object> conditions;
    KP_RETURN_IF_ERROR(ReadOptObject(eo, "conditions", p, &conditions));
    if (conditions) {
      Path cp = p.Field("conditions");
      KP_RETURN_IF_ERROR(ReadOptBool(*conditions, "ready", cp, &ep.conditions.ready));
      KP_RETURN_IF_ERROR(ReadOptBool(*conditions, "serving", cp, &ep.conditions.serving));
      KP_RETURN_IF_ERROR(ReadOptBool(*conditions, "terminating", cp, &ep.conditions.terminating));
    }
    KP_RETURN_IF_ERROR(ReadOptString(eo, "nodeName", p, &ep.node_name));
    KP_RETURN_IF_ERROR(ReadOptString(eo, "zone", p, &ep.zone));
    std::optional<object> hints;
    KP_RETURN_IF_ERROR(ReadOptObject(eo, "hints", p, &hints));
    if (hints) {
      Path hp = p.Field("hints");
      KP_RETURN_IF_ERROR(ReadHintNames(*hints, "forZones", hp, &ep.hints_for_zones));
      KP_RETURN_IF_ERROR(ReadHintNames(*hints, "forNodes", hp, &ep.hints_for_nodes));
    }
    slice->endpoints.push_back(std::move(ep));
    return absl::OkStatus();
  }));

  return ForEach(root, "ports", root_path, [&](element item, const Path& p) {
    object po;
    KP_RETURN_IF_ERROR(AsObject(item, p, &po));
    proxier::EndpointSlicePort port;
    KP_RETURN_IF_ERROR(ReadOptString(po, "name", p, &port.name));
    if (std::optional<element> proto = Get(po, "protocol")) {
      Protocol protocol;
      KP_RETURN_IF_ERROR(ParseProtocol(*proto, p.Field("protocol"), &protocol));
      port.protocol = protocol;
    }
    int32_t number = 0;
    bool has_port = false;
    KP_RETURN_IF_ERROR(ReadIntInRange(po, "port", p, 1, 65535, &number, &has_port));
    if (has_port) port.port = number;
    slice->ports.push_back(std::move(port));
    return absl::OkStatus();
  });
}

absl::Status DecodeNodeBody(object root, Node* node) {
  std::optional<object> spec;
  KP_RETURN_IF_ERROR(ReadOptObject(root, "spec", Path{}, &spec));
  if (spec) {
    const Path sp{nullptr, "spec"};
    KP_RETURN_IF_ERROR(ForEach(*spec, "taints", sp, [&](element item, const Path& p) {
      object to;
      KP_RETURN_IF_ERROR(AsObject(item, p, &to));
      proxier::Taint taint;
      KP_RETURN_IF_ERROR(ReadString(to, "key", p, &taint.key));
      KP_RETURN_IF_ERROR(ReadString(to, "value", p, &taint.value));
      KP_RETURN_IF_ERROR(ReadString(to, "effect", p, &taint.effect));
      node->taints.push_back(std::move(taint));
      return absl::OkStatus();
    }));
    std::vector<std::string> cidrs;
    KP_RETURN_IF_ERROR(ReadStringList(*spec, "podCIDRs", sp, &cidrs));
    bool plural = !cidrs.empty();
    if (!plural) {
      std::string one;
      KP_RETURN_IF_ERROR(ReadString(*spec, "podCIDR", sp, &one));
      if (!one.empty()) cidrs.push_back(std::move(one));
    }
    for (size_t i = 0; i < cidrs.size(); ++i) {
      absl::StatusOr<Cidr> cidr = ParseCidrSloppy(cidrs[i]);
      if (!cidr.ok()) {
        const Path plural_path = sp.Field("podCIDRs");
        const Path p = plural ? plural_path.Index(static_cast<int>(i)) : sp.Field("podCIDR");
        return FieldError(p, absl::StrCat("invalid CIDR \"", cidrs[i], "\""));
      }
      node->pod_cidrs.push_back(*cidr);
    }
  }
  std::optional<object> status;
  KP_RETURN_IF_ERROR(ReadOptObject(root, "status", Path{}, &status));
  if (status) {
    KP_RETURN_IF_ERROR(
        ForEach(*status, "addresses", Path{nullptr, "status"}, [&](element item, const Path& p) {
          object ao;
          KP_RETURN_IF_ERROR(AsObject(item, p, &ao));
          proxier::NodeAddress addr;
          KP_RETURN_IF_ERROR(ReadString(ao, "type", p, &addr.type));
          KP_RETURN_IF_ERROR(ReadString(ao, "address", p, &addr.address));
          node->addresses.push_back(std::move(addr));
          return absl::OkStatus();
        }));
  }
  return absl::OkStatus();
}

enum class Kind { kService, kEndpointSlice, kNode, kOther };

// Kinds are matched with their API group: a Knative "Service" (serving.knative.dev) is not ours.
Kind ClassifyKind(std::string_view kind, std::string_view api_version) {
  if (kind == "Service" && (api_version.empty() || api_version == "v1")) return Kind::kService;
  if (kind == "Node" && (api_version.empty() || api_version == "v1")) return Kind::kNode;
  if (kind == "EndpointSlice" && (api_version.empty() || api_version == "discovery.k8s.io/v1")) {
    return Kind::kEndpointSlice;
  }
  return Kind::kOther;
}

std::string ObjectLabel(absl::string_view kind, const ObjectMeta& meta) {
  if (meta.namespace_name.empty()) return absl::StrCat(kind, " ", meta.name);
  return absl::StrCat(kind, " ", meta.namespace_name, "/", meta.name);
}

// Decodes one object whose kind is known, filling *rejected (when non-null) on failure.
template <typename T, typename BodyFn>
absl::StatusOr<T> DecodeKind(object root, absl::string_view kind, bool namespaced, BodyFn body,
                             RejectedObject* rejected) {
  T value;
  absl::Status st = DecodeMeta(root, namespaced, &value.metadata);
  if (st.ok()) st = body(root, &value);
  if (st.ok()) return value;
  ObjectMeta shown = value.metadata;
  if (shown.name.empty()) shown.name = "<unnamed>";
  std::string label = ObjectLabel(kind, shown);
  std::string message = absl::StrCat(label, ": ", st.message());
  if (rejected != nullptr) {
    rejected->kind = std::string(kind);
    rejected->namespace_name = value.metadata.namespace_name;
    rejected->name = value.metadata.name;
    rejected->message = message;
  }
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<DecodedObject> DecodeObjectImpl(element e, absl::string_view default_kind,
                                               absl::string_view default_api_version,
                                               RejectedObject* rejected) {
  object root;
  if (e.get_object().get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("expected an object, got ", TypeName(e)));
  }
  std::string_view kind(default_kind.data(), default_kind.size());
  std::string_view api_version(default_api_version.data(), default_api_version.size());
  if (std::optional<element> k = Get(root, "kind")) {
    if (k->get_string().get(kind) != simdjson::SUCCESS)
      return TypeError(Path{nullptr, "kind"}, "string", *k);
  }
  if (std::optional<element> v = Get(root, "apiVersion")) {
    if (v->get_string().get(api_version) != simdjson::SUCCESS) {
      return TypeError(Path{nullptr, "apiVersion"}, "string", *v);
    }
  }
  switch (ClassifyKind(kind, api_version)) {
    case Kind::kService: {
      absl::StatusOr<Service> s =
          DecodeKind<Service>(root, "Service", true, DecodeServiceBody, rejected);
      if (!s.ok()) return s.status();
      return DecodedObject{std::move(*s)};
    }
    case Kind::kEndpointSlice: {
      absl::StatusOr<EndpointSlice> s =
          DecodeKind<EndpointSlice>(root, "EndpointSlice", true, DecodeEndpointSliceBody, rejected);
      if (!s.ok()) return s.status();
      return DecodedObject{std::move(*s)};
    }
    case Kind::kNode: {
      absl::StatusOr<Node> n = DecodeKind<Node>(root, "Node", false, DecodeNodeBody, rejected);
      if (!n.ok()) return n.status();
      return DecodedObject{std::move(*n)};
    }
    case Kind::kOther:
      break;
  }
  return absl::UnimplementedError(absl::StrCat("kind \"", AV(kind), "\" (apiVersion \"",
                                               AV(api_version), "\") is not decoded"));
}

void AddDecoded(DecodedObject decoded, DecodedObjects* out) {
  std::visit(
      [&](auto&& obj) {
        using T = std::decay_t<decltype(obj)>;
        if constexpr (std::is_same_v<T, Service>) {
          out->services.push_back(std::move(obj));
        } else if constexpr (std::is_same_v<T, EndpointSlice>) {
          out->endpoint_slices.push_back(std::move(obj));
        } else {
          out->nodes.push_back(std::move(obj));
        }
      },
      std::move(decoded.object));
}

// Decodes one object into *out: rejected objects are recorded, unknown kinds counted.
void CollectObject(element e, absl::string_view default_kind, absl::string_view default_api_version,
                   absl::string_view where, DecodedObjects* out) {
  RejectedObject rejected;
  absl::StatusOr<DecodedObject> decoded =
      DecodeObjectImpl(e, default_kind, default_api_version, &rejected);
  if (decoded.ok()) {
    AddDecoded(std::move(*decoded), out);
    return;
  }
  if (absl::IsUnimplemented(decoded.status())) {
    KLOG_V(2) << "Skipping object: " << decoded.status().message();
    ++out->skipped_objects;
    return;
  }
  if (rejected.message.empty())
    rejected.message = absl::StrCat(where, ": ", decoded.status().message());
  out->errors.push_back(rejected.message);
  out->rejected.push_back(std::move(rejected));
}

// The List's items as separate texts (SplitJsonList), each parsed on its own with `parser`.
struct SplitItems {
  const std::vector<absl::string_view>* texts = nullptr;
  simdjson::dom::parser* parser = nullptr;
};

// Decodes a single object or a List. Fails only when one of `split`'s item texts is not JSON (the
// document as a whole is then not JSON).
absl::Status DecodeDocumentElement(element doc, DecodedObjects* out, SplitItems split = {}) {
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    ++out->document_errors;
    out->errors.push_back(absl::StrCat("document: expected an object, got ", TypeName(doc)));
    return absl::OkStatus();
  }
  std::string_view kind;
  std::string_view api_version;
  if (std::optional<element> k = Get(root, "kind");
      k && k->get_string().get(kind) != simdjson::SUCCESS) {
    kind = {};
  }
  if (std::optional<element> v = Get(root, "apiVersion");
      v && v->get_string().get(api_version) != simdjson::SUCCESS) {
    api_version = {};
  }

  bool is_list = kind.size() >= 4 && kind.substr(kind.size() - 4) == "List";
  if (!is_list) {
    CollectObject(doc, "", "", "object", out);
    return absl::OkStatus();
  }
  if (std::optional<element> m = Get(root, "metadata")) {
    object meta;
    if (m->get_object().get(meta) == simdjson::SUCCESS) {
      std::string_view s;
      if (std::optional<element> rv = Get(meta, "resourceVersion");
          rv && rv->get_string().get(s) == simdjson::SUCCESS) {
        out->resource_version.assign(s.data(), s.size());
      }
      if (std::optional<element> c = Get(meta, "continue");
          c && c->get_string().get(s) == simdjson::SUCCESS) {
        out->continue_token.assign(s.data(), s.size());
      }
    }
  }
  // Typed lists (ServiceList) may leave kind/apiVersion out of their items.
  std::string_view item_kind =
      kind == "List" ? std::string_view() : kind.substr(0, kind.size() - 4);
  if (split.texts != nullptr) {
    // kind and apiVersion point into the shell document, which the item parser does not touch.
    int i = 0;
    for (absl::string_view text : *split.texts) {
      element item;
      if (simdjson::error_code err = split.parser->parse(text.data(), text.size()).get(item);
          err != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(
            absl::StrCat("not valid JSON: items[", i, "]: ", simdjson::error_message(err)));
      }
      CollectObject(item, AV(item_kind), AV(api_version), absl::StrCat(AV(kind), " items[", i, "]"), out);
      ++i;
    }
    return absl::OkStatus();
  }
  std::optional<element> items = Get(root, "items");
  if (!items) return absl::OkStatus();
  array arr;
  if (items->get_array().get(arr) != simdjson::SUCCESS) {
    ++out->document_errors;
    out->errors.push_back(
        absl::StrCat(AV(kind), ": items: expected array, got ", TypeName(*items)));
    return absl::OkStatus();
  }
  int i = 0;
  for (element item : arr) {
    CollectObject(item, AV(item_kind), AV(api_version), absl::StrCat(AV(kind), " items[", i, "]"),
                  out);
    ++i;
  }
  return absl::OkStatus();
}

absl::StatusOr<DecodedObjects> DecodeParsed(simdjson::simdjson_result<element> parsed) {
  element doc;
  if (simdjson::error_code err = parsed.get(doc); err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON: ", simdjson::error_message(err)));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a JSON object, got ", TypeName(doc)));
  }
  DecodedObjects out;
  DecodeDocumentElement(doc, &out).IgnoreError();  // only split items can fail
  return out;
}

// A List is decoded item by item with one reused parser: the DOM of a whole 16 MB
// EndpointSliceList is ~200 MB. Anything SplitJsonList does not recognise is parsed whole.
absl::StatusOr<DecodedObjects> DecodeSplitOrWhole(simdjson::dom::parser& parser, absl::string_view json) {
  std::optional<JsonListLayout> layout = SplitJsonList(json);
  if (!layout.has_value()) return DecodeParsed(parser.parse(json.data(), json.size()));
  simdjson::dom::parser shell_parser;
  element doc;
  if (simdjson::error_code err = shell_parser.parse(layout->shell).get(doc); err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", simdjson::error_message(err)));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a JSON object, got ", TypeName(doc)));
  }
  DecodedObjects out;
  if (absl::Status s = DecodeDocumentElement(doc, &out, SplitItems{&layout->items, &parser}); !s.ok()) return s;
  return out;
}

}  // namespace

absl::StatusOr<DecodedObjects> DecodeJsonDocument(absl::string_view json) {
  simdjson::dom::parser parser;
  return DecodeSplitOrWhole(parser, json);
}

absl::StatusOr<DecodedObjects> DecodeJsonDocument(simdjson::dom::parser& parser,
                                                  const simdjson::padded_string& json) {
  return DecodeSplitOrWhole(parser, absl::string_view(json.data(), json.size()));
}

DecodedObjects DecodeYamlDocuments(absl::string_view yaml) {
  DecodedObjects out;
  simdjson::dom::parser parser;
  std::vector<YamlDocument> documents = SplitYamlDocuments(yaml);
  for (const YamlDocument& document : documents) {
    absl::StatusOr<std::optional<std::string>> json = YamlDocumentToJson(document.text);
    if (!json.ok()) {
      ++out.document_errors;
      out.errors.push_back(
          absl::StrCat("document at line ", document.first_line, ": ", json.status().message()));
      continue;
    }
    if (!json->has_value()) continue;  // empty document (only comments)
    element doc;
    if (simdjson::error_code err = parser.parse(**json).get(doc); err != simdjson::SUCCESS) {
      ++out.document_errors;
      out.errors.push_back(absl::StrCat("document at line ", document.first_line,
                                        ": internal JSON error: ", simdjson::error_message(err)));
      continue;
    }
    size_t errors_before = out.errors.size();
    DecodeDocumentElement(doc, &out).IgnoreError();  // no split items here
    for (size_t i = errors_before; i < out.errors.size(); ++i) {
      out.errors[i] = absl::StrCat(out.errors[i], " (document at line ", document.first_line, ")");
    }
  }
  return out;
}

absl::StatusOr<DecodedObject> DecodeObject(simdjson::dom::element element) {
  return DecodeObjectImpl(element, "", "", nullptr);
}

absl::StatusOr<DecodedObject> DecodeObject(simdjson::dom::element element,
                                           absl::string_view default_kind,
                                           absl::string_view default_api_version) {
  return DecodeObjectImpl(element, default_kind, default_api_version, nullptr);
}

absl::StatusOr<WatchEvent> DecodeWatchEventLine(simdjson::dom::parser& parser,
                                                absl::string_view line) {
  element doc;
  if (simdjson::error_code err = parser.parse(line.data(), line.size()).get(doc);
      err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event: not valid JSON: ", simdjson::error_message(err)));
  }
  object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event: expected an object, got ", TypeName(doc)));
  }
  WatchEvent event;
  std::optional<element> type = Get(root, "type");
  std::string_view type_text;
  if (!type || type->get_string().get(type_text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("watch event: type: required string");
  }
  event.type.assign(type_text.data(), type_text.size());
  std::optional<element> obj_elem = Get(root, "object");
  object obj;
  if (!obj_elem || obj_elem->get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event ", event.type, ": object: required object"));
  }
  object meta;
  if (std::optional<element> m = Get(obj, "metadata");
      m && m->get_object().get(meta) == simdjson::SUCCESS) {
    std::string_view rv;
    if (std::optional<element> r = Get(meta, "resourceVersion");
        r && r->get_string().get(rv) == simdjson::SUCCESS) {
      event.resource_version.assign(rv.data(), rv.size());
    }
    if (event.type == "BOOKMARK") {
      object annotations;
      std::string_view v;
      if (std::optional<element> a = Get(meta, "annotations");
          a && a->get_object().get(annotations) == simdjson::SUCCESS) {
        if (std::optional<element> end = Get(annotations, "k8s.io/initial-events-end");
            end && end->get_string().get(v) == simdjson::SUCCESS) {
          event.initial_events_end = v == "true";
        }
      }
    }
  }
  if (event.type == "BOOKMARK") return event;
  if (event.type == "ERROR") {
    // The object is a metav1.Status:
    // {"status":"Failure","message":...,"reason":"Expired","code":410}.
    std::string message;
    int64_t code = 0;
    std::string_view s;
    if (std::optional<element> m = Get(obj, "message");
        m && m->get_string().get(s) == simdjson::SUCCESS)
      message = s;
    if (std::optional<element> r = Get(obj, "reason");
        r && r->get_string().get(s) == simdjson::SUCCESS) {
      event.error_reason.assign(s.data(), s.size());
    }
    if (std::optional<element> c = Get(obj, "code");
        c && c->get_int64().get(code) == simdjson::SUCCESS) {
      event.error_code = static_cast<int32_t>(code);
    }
    std::string text =
        absl::StrCat("watch error ", event.error_code, " ", event.error_reason, ": ", message);
    event.error =
        event.error_code == 410 ? absl::OutOfRangeError(text) : absl::UnavailableError(text);
    return event;
  }
  if (event.type != "ADDED" && event.type != "MODIFIED" && event.type != "DELETED") {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event: unknown type \"", event.type, "\""));
  }
  absl::StatusOr<DecodedObject> decoded = DecodeObjectImpl(*obj_elem, "", "", nullptr);
  if (decoded.ok()) {
    event.object = std::move(*decoded);
  } else {
    event.error = decoded.status();
  }
  return event;
}

}  // namespace kproxy::apiclient
