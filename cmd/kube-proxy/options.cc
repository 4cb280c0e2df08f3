#include "cmd/kube-proxy/options.h"

#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "logging/log.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cmd/kube-proxy/feature_gates.h"
#include "cmd/kube-proxy/go_duration.h"
#include "logging/log.h"
#include "proxier/ip_address.h"
#include "yaml-cpp/yaml.h"

namespace kproxy::daemon {

absl::Duration KubeProxyConfiguration::SyncPeriod() const {
  return mode == "ipvs" ? ipvs.sync_period : mode == "nftables" ? nftables.sync_period
                                                                  : iptables.sync_period;
}
absl::Duration KubeProxyConfiguration::MinSyncPeriod() const {
  return mode == "ipvs" ? ipvs.min_sync_period
                        : mode == "nftables" ? nftables.min_sync_period : iptables.min_sync_period;
}

namespace {

constexpr char kApiVersion[] = "kubeproxy.config.k8s.io/v1alpha1";
constexpr char kKind[] = "KubeProxyConfiguration";

// ---------------------------------------------------------------------------------------------
// Scalar parsing shared by flags and the config file.

absl::StatusOr<bool> ParseBool(absl::string_view v) {
  std::string s = absl::AsciiStrToLower(v);
  if (s == "true" || s == "1" || s == "t") return true;
  if (s == "false" || s == "0" || s == "f") return false;
  return absl::InvalidArgumentError(absl::StrCat("invalid boolean \"", v, "\" (want true or false)"));
}

absl::StatusOr<int32_t> ParseInt32(absl::string_view v) {
  int32_t out;
  if (!absl::SimpleAtoi(v, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid integer \"", v, "\""));
  }
  return out;
}

absl::StatusOr<double> ParseDouble(absl::string_view v) {
  double out;
  if (!absl::SimpleAtod(v, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid number \"", v, "\""));
  }
  return out;
}

std::vector<std::string> SplitList(absl::string_view v) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

absl::StatusOr<std::map<std::string, bool>> ParseGates(absl::string_view v) {
  std::map<std::string, bool> out;
  for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    auto b = ParseBool(absl::StripAsciiWhitespace(kv.second));
    if (kv.first.empty() || !b.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid feature gate \"", part, "\" (want Name=true|false)"));
    }
    out[std::string(absl::StripAsciiWhitespace(kv.first))] = *b;
  }
  return out;
}

// A resource.Quantity of bytes as component-base's info buffer size takes it: "512", "1K" / "1M"
// (powers of 1000), "2Ki" / "3Mi" (powers of 1024), up to T / Ti.
absl::StatusOr<int64_t> ParseByteQuantity(absl::string_view v) {
  static constexpr std::pair<const char*, int64_t> kSuffixes[] = {
      {"Ki", int64_t{1} << 10}, {"Mi", int64_t{1} << 20}, {"Gi", int64_t{1} << 30}, {"Ti", int64_t{1} << 40},
      {"k", 1000},             {"K", 1000},             {"M", 1000000},          {"G", 1000000000},
      {"T", 1000000000000}};
  absl::string_view number = absl::StripAsciiWhitespace(v);
  int64_t multiplier = 1;
  for (const auto& [suffix, factor] : kSuffixes) {
    if (absl::ConsumeSuffix(&number, suffix)) {
      multiplier = factor;
      break;
    }
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(number, &n) || n < 0 || n > INT64_MAX / multiplier) {
    return absl::InvalidArgumentError(absl::StrCat("invalid quantity \"", v, "\" (want bytes, e.g. 0, 512, 64Ki, 1M)"));
  }
  return n * multiplier;
}

// upstream's AppendPortIfNeeded: a bare IP gets the default port.
std::string AppendPortIfNeeded(const std::string& addr, int port) {
  if (proxier::IpAddress::Parse(addr).ok()) {
    auto ip = *proxier::IpAddress::Parse(addr);
    return ip.JoinPort(port);
  }
  return addr;
}

// Replaces the port of "ip:port" (deprecated --healthz-port / --metrics-port).
std::string ReplacePort(const std::string& addr, int port) {
  size_t colon = addr.rfind(':');
  std::string host = colon == std::string::npos ? addr : addr.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

// ---------------------------------------------------------------------------------------------
// Flags.

enum class FlagKind { kBool, kString, kInt, kFloat, kDuration, kList, kMap };

absl::string_view KindName(FlagKind k) {
  switch (k) {
    case FlagKind::kBool: return "";
    case FlagKind::kString: return "string";
    case FlagKind::kInt: return "int32";
    case FlagKind::kFloat: return "float32";
    case FlagKind::kDuration: return "duration";
    case FlagKind::kList: return "strings";
    case FlagKind::kMap: return "mapStringBool";
  }
  return "";
}

// Whether a flag still applies when --config is given.
enum class WithConfig { kIgnored, kApplies };

struct FlagSpec {
  std::string name;
  FlagKind kind;
  std::string help;
  WithConfig with_config;
  std::function<absl::Status(absl::string_view)> set;
  std::function<std::string()> get;  // current value, for --help defaults
  std::string deprecated;            // non-empty: upstream's deprecation message
};

// Binds every flag to `o` (config fields into o->config) and to the extra values in `x`.
struct FlagExtras {
  int32_t healthz_port = 10256;
  int32_t metrics_port = 10249;
};

std::vector<FlagSpec> BuildFlags(Options* o, FlagExtras* x) {
  KubeProxyConfiguration* c = &o->config;
  std::vector<FlagSpec> f;
  auto str = [&f](std::string name, std::string* dst, std::string help, WithConfig w) {
    f.push_back({name, FlagKind::kString, help, w,
                 [dst](absl::string_view v) { *dst = std::string(v); return absl::OkStatus(); },
                 [dst] { return *dst; }});
  };
  auto boolean = [&f](std::string name, bool* dst, std::string help, WithConfig w) {
    f.push_back({name, FlagKind::kBool, help, w,
                 [dst](absl::string_view v) -> absl::Status {
                   auto b = ParseBool(v);
                   if (!b.ok()) return b.status();
                   *dst = *b;
                   return absl::OkStatus();
                 },
                 [dst] { return std::string(*dst ? "true" : "false"); }});
  };
  auto int32 = [&f](std::string name, int32_t* dst, std::string help, WithConfig w) {
    f.push_back({name, FlagKind::kInt, help, w,
                 [dst](absl::string_view v) -> absl::Status {
                   auto n = ParseInt32(v);
                   if (!n.ok()) return n.status();
                   *dst = *n;
                   return absl::OkStatus();
                 },
                 [dst] { return absl::StrCat(*dst); }});
  };
  auto dur = [&f](std::string name, absl::Duration* dst, std::string help, WithConfig w) {
    f.push_back({name, FlagKind::kDuration, help, w,
                 [dst](absl::string_view v) -> absl::Status {
                   auto d = ParseGoDuration(v);
                   if (!d.ok()) return d.status();
                   *dst = *d;
                   return absl::OkStatus();
                 },
                 [dst] { return FormatGoDuration(*dst); }});
  };
  auto list = [&f](std::string name, std::vector<std::string>* dst, std::string help, WithConfig w) {
    f.push_back({name, FlagKind::kList, help, w,
                 [dst](absl::string_view v) {
                   *dst = SplitList(v);
                   return absl::OkStatus();
                 },
                 [dst] { return absl::StrCat("[", absl::StrJoin(*dst, ","), "]"); }});
  };
  const WithConfig kIgn = WithConfig::kIgnored;
  const WithConfig kAll = WithConfig::kApplies;
  const std::string kIgnoredNote = " This parameter is ignored if a config file is specified by --config.";

  str("config", &o->config_file, "The path to the configuration file.", kAll);
  str("write-config-to", &o->write_config_to,
      "If set, write the default configuration values to this file and exit.", kAll);
  boolean("cleanup", &o->cleanup,
          "If true, remove kube-proxy's iptables rules and chains (IPv4 and IPv6, iptables and ipvs "
          "modes), the IPVS virtual servers, the kube-ipvs0 link, the KUBE- ipsets and the nftables "
          "mode's kube-proxy tables (ip and ip6), then exit. Conntrack entries are not removed.", kAll);
  boolean("init-only", &o->init_only,
          "If true, perform the initialization steps that need full root privileges (the conntrack "
          "sysctls, route_localnet for localhost NodePorts in iptables mode, the IPVS sysctls in ipvs "
          "mode; each written only when it differs), then exit. After this kube-proxy can run with "
          "only the CAP_NET_ADMIN capability.", kAll);
  f.push_back({"feature-gates", FlagKind::kMap,
               "A set of key=value pairs for the feature gates kube-proxy 1.35 uses: "
               "LoadBalancerIPMode, NFTablesProxyMode, PreferSameTrafficDistribution, "
               "ServiceTrafficDistribution, TopologyAwareHints, ComponentSLIs (GA, locked to true), "
               "LoggingAlphaOptions, LoggingBetaOptions, ContextualLogging, AllBeta, WinDSR and WinOverlay "
               "(Windows only), ComponentFlagz, ComponentStatusz and AllAlpha (kproxy refuses true). Any other "
               "name is an error." + kIgnoredNote,
               kIgn,
               [c](absl::string_view v) -> absl::Status {
                 auto g = ParseGates(v);
                 if (!g.ok()) return g.status();
                 c->feature_gates = *g;
                 return absl::OkStatus();
               },
               [c] {
                 std::vector<std::string> parts;
                 for (const auto& [k, v] : c->feature_gates) parts.push_back(absl::StrCat(k, "=", v ? "true" : "false"));
                 return absl::StrJoin(parts, ",");
               }});
  str("kubeconfig", &c->client_connection.kubeconfig,
      "Path to kubeconfig file with authorization information (the master location can be "
      "overridden by the master flag).", kIgn);
  str("master", &o->master, "The address of the Kubernetes API server (overrides any value in kubeconfig)", kAll);
  str("kube-api-content-type", &c->client_connection.content_type,
      "Content type of requests sent to apiserver. Accepted for compatibility: kproxy decodes only "
      "JSON and always asks for application/json.", kIgn);
  int32("kube-api-burst", &c->client_connection.burst, "Burst to use while talking with kubernetes apiserver", kIgn);
  f.push_back({"kube-api-qps", FlagKind::kFloat, "QPS to use while talking with kubernetes apiserver", kIgn,
               [c](absl::string_view v) -> absl::Status {
                 auto d = ParseDouble(v);
                 if (!d.ok()) return d.status();
                 c->client_connection.qps = *d;
                 return absl::OkStatus();
               },
               [c] { return absl::StrCat(c->client_connection.qps); }});
  str("hostname-override", &c->hostname_override,
      "If non-empty, will be used as the name of the Node that kube-proxy is running on. If unset, "
      "the node name is assumed to be the same as the node's hostname.", kAll);
  str("bind-address", &c->bind_address,
      "Overrides kube-proxy's idea of what its node's primary IP is. kube-proxy does not bind any "
      "socket to this IP." + kIgnoredNote, kIgn);
  str("healthz-bind-address", &c->healthz_bind_address,
      "The IP address and port for the health check server to serve on." + kIgnoredNote, kIgn);
  str("metrics-bind-address", &c->metrics_bind_address,
      "The IP address and port for the metrics server to serve on (0.0.0.0:10249 / [::]:10249 for "
      "all interfaces). Set empty to disable." + kIgnoredNote, kIgn);
  boolean("bind-address-hard-fail", &c->bind_address_hard_fail,
          "If true kube-proxy will treat failure to bind to a port as fatal and exit", kIgn);
  boolean("profiling", &c->enable_profiling,
          "Not supported by kproxy: there is no /debug/pprof handler; true only logs a warning." + kIgnoredNote,
          kIgn);
  str("show-hidden-metrics-for-version", &c->show_hidden_metrics_for_version,
      "The previous version for which you want to show hidden metrics; only 1.34 (the previous minor "
      "version) is accepted, as upstream. kproxy has no hidden metrics, so it shows nothing more." + kIgnoredNote,
      kIgn);
  str("proxy-mode", &c->mode,
      "Which proxy mode to use: 'iptables' (default), 'ipvs' or 'nftables'." + kIgnoredNote, kIgn);
  int32("iptables-masquerade-bit", &c->iptables.masquerade_bit,
        "If using the iptables or ipvs proxy mode, the bit of the fwmark space to mark packets "
        "requiring SNAT with. Must be within the range [0, 31].", kIgn);
  boolean("masquerade-all", &c->iptables.masquerade_all,
          "SNAT all traffic sent via Service cluster IPs.", kIgn);
  boolean("iptables-localhost-nodeports", &c->iptables.localhost_node_ports,
          "If false, disable the legacy behavior of allowing NodePort services to be accessed via "
          "localhost (iptables mode and IPv4 only).", kIgn);
  dur("iptables-sync-period", &c->iptables.sync_period,
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing "
      "and cleanup operations are performed. Must be greater than 0.", kIgn);
  dur("iptables-min-sync-period", &c->iptables.min_sync_period,
      "The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 "
      "means every Service or EndpointSlice change will result in an immediate iptables resync.", kIgn);
  dur("ipvs-sync-period", &c->ipvs.sync_period,
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing "
      "and cleanup operations are performed. Must be greater than 0.", kIgn);
  dur("ipvs-min-sync-period", &c->ipvs.min_sync_period,
      "The minimum period between IPVS rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 means "
      "every Service or EndpointSlice change will result in an immediate IPVS resync.", kIgn);
  str("ipvs-scheduler", &c->ipvs.scheduler, "The ipvs scheduler type when proxy mode is ipvs", kIgn);
  list("ipvs-exclude-cidrs", &c->ipvs.exclude_cidrs,
       "A comma-separated list of CIDRs which the ipvs proxier should not touch when cleaning up "
       "IPVS rules.", kIgn);
  boolean("ipvs-strict-arp", &c->ipvs.strict_arp,
          "Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2", kIgn);
  dur("ipvs-tcp-timeout", &c->ipvs.tcp_timeout,
      "The timeout for idle IPVS TCP connections, 0 to leave as-is. (e.g. '5s', '1m', '2h22m').", kIgn);
  dur("ipvs-tcpfin-timeout", &c->ipvs.tcp_fin_timeout,
      "The timeout for IPVS TCP connections after receiving a FIN packet, 0 to leave as-is.", kIgn);
  dur("ipvs-udp-timeout", &c->ipvs.udp_timeout,
      "The timeout for IPVS UDP packets, 0 to leave as-is. (e.g. '5s', '1m', '2h22m').", kIgn);
  str("detect-local-mode", &c->detect_local_mode,
      "Mode to use to detect local traffic: ClusterCIDR, NodeCIDR, BridgeInterface or "
      "InterfaceNamePrefix." + kIgnoredNote, kIgn);
  str("pod-bridge-interface", &c->detect_local.bridge_interface,
      "A bridge interface name. When --detect-local-mode is set to BridgeInterface, traffic from "
      "this bridge is considered local.", kIgn);
  str("pod-interface-name-prefix", &c->detect_local.interface_name_prefix,
      "An interface name prefix. When --detect-local-mode is set to InterfaceNamePrefix, traffic "
      "from any interface whose name begins with it is considered local.", kIgn);
  str("cluster-cidr", &c->cluster_cidr,
      "The CIDR range of the pods in the cluster (a comma-separated dual-stack pair is allowed). "
      "When --detect-local-mode is ClusterCIDR, traffic from this range is considered local." + kIgnoredNote, kIgn);
  list("nodeport-addresses", &c->node_port_addresses,
       "A list of CIDR ranges that contain valid node IPs, or alternatively, the single string "
       "'primary'. If set, NodePort connections are only accepted on matching node IPs (matched "
       "again at every sync; none matching: NodePorts of that IP family are not reachable); if "
       "unset, on all local IPs." + kIgnoredNote, kIgn);
  int32("oom-score-adj", &c->oom_score_adj,
        "The oom-score-adj value for kube-proxy process. Values must be within the range [-1000, 1000]." + kIgnoredNote, kIgn);
  int32("conntrack-max-per-core", &c->conntrack.max_per_core,
        "Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and "
        "ignore conntrack-min).", kIgn);
  int32("conntrack-min", &c->conntrack.min,
        "Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core "
        "(set conntrack-max-per-core=0 to leave the limit as-is).", kIgn);
  dur("conntrack-tcp-timeout-established", &c->conntrack.tcp_established_timeout,
      "Idle timeout for established TCP connections (0 to leave as-is)", kIgn);
  dur("conntrack-tcp-timeout-close-wait", &c->conntrack.tcp_close_wait_timeout,
      "NAT timeout for TCP connections in the CLOSE_WAIT state", kIgn);
  boolean("conntrack-tcp-be-liberal", &c->conntrack.tcp_be_liberal,
          "Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1", kIgn);
  dur("conntrack-udp-timeout", &c->conntrack.udp_timeout,
      "Idle timeout for UNREPLIED UDP connections (0 to leave as-is)", kIgn);
  dur("conntrack-udp-timeout-stream", &c->conntrack.udp_stream_timeout,
      "Idle timeout for ASSURED UDP connections (0 to leave as-is)", kIgn);
  dur("config-sync-period", &c->config_sync_period,
      "How often configuration from the apiserver is refreshed. Must be greater than 0. kproxy's "
      "watches deliver every change and it has no informer resync (upstream's re-delivers unchanged "
      "objects, which its change trackers drop), so another value than the default only logs a warning.",
      kIgn);
  str("proxy-port-range", &c->port_range, "Range of host ports (beginPort-endPort) (no effect).", kIgn);
  f.back().deprecated = "This flag has no effect and will be removed in a future release.";
  int32("healthz-port", &x->healthz_port, "The port to bind the health check server. Use 0 to disable.", kIgn);
  f.back().deprecated =
      "This flag is deprecated and will be removed in a future release. Please use "
      "--healthz-bind-address instead.";
  int32("metrics-port", &x->metrics_port, "The port to bind the metrics server. Use 0 to disable.", kIgn);
  f.back().deprecated =
      "This flag is deprecated and will be removed in a future release. Please use "
      "--metrics-bind-address instead.";
  int32("v", &c->logging.verbosity, "number for the log level verbosity", kAll);
  list("vmodule", &c->logging.vmodule,
       "comma-separated list of pattern=N settings for file-filtered logging (patterns match kproxy's "
       "source file names, e.g. reflector=4 or iptables/*=5)", kAll);
  str("logging-format", &c->logging.format, "Sets the log format. Permitted formats: \"json\", \"text\".", kAll);
  dur("log-flush-frequency", &c->logging.flush_frequency,
      "Maximum number of seconds between log flushes. kproxy writes every log line at once, so no "
      "line waits for a flush; must be greater than 0.", kAll);
  boolean("log-text-split-stream", &c->logging.text_split_stream,
          "[Alpha] In text format, write error and warning messages to stderr and info messages to "
          "stdout. Needs the LoggingAlphaOptions feature gate.", kAll);
  boolean("log-json-split-stream", &c->logging.json_split_stream,
          "[Alpha] In JSON format, write error and warning messages to stderr and info messages to "
          "stdout. Needs the LoggingAlphaOptions feature gate.", kAll);
  auto quantity = [&f](std::string name, int64_t* dst, std::string help) {
    f.push_back({name, FlagKind::kString, help, WithConfig::kApplies,
                 [dst](absl::string_view v) -> absl::Status {
                   auto q = ParseByteQuantity(v);
                   if (!q.ok()) return q.status();
                   *dst = *q;
                   return absl::OkStatus();
                 },
                 [dst] { return absl::StrCat(*dst); }});
  };
  quantity("log-text-info-buffer-size", &c->logging.text_info_buffer_size,
           "[Alpha] Buffer for info messages with split text streams. kproxy does not buffer log "
           "lines: only 0 is accepted.");
  quantity("log-json-info-buffer-size", &c->logging.json_info_buffer_size,
           "[Alpha] Buffer for info messages with split JSON streams. kproxy does not buffer log "
           "lines: only 0 is accepted.");
  // kproxy's own flags.
  str("objects", &o->objects,
      "kproxy: a file or directory of Kubernetes objects (Service, EndpointSlice, Node; YAML or "
      "JSON) used instead of an API server; re-read when it changes.", kAll);
  boolean("once", &o->once,
          "kproxy: sync once, then exit: 0 when the rules were applied, non-zero otherwise. Rules stay in place.", kAll);
  boolean("dry-run", &o->dry_run,
          "kproxy: print what the proxy understood and what it would write, touching nothing.", kAll);
  str("iptables-variant", &o->iptables_variant,
      "kproxy: which iptables backend to use: auto (detect as iptables-wrapper does), legacy or nft.", kAll);
  // Upstream's verflag: a bool flag that also takes "raw" (the Go-syntax version.Info).
  f.push_back({"version", FlagKind::kBool,
               "--version, --version=raw prints version information and quits.", kAll,
               [o](absl::string_view v) -> absl::Status {
                 o->version_raw = v == "raw";
                 absl::StatusOr<bool> b = o->version_raw ? true : ParseBool(v);
                 if (!b.ok()) return b.status();
                 o->version = *b;
                 return absl::OkStatus();
               },
               [o] { return std::string(o->version_raw ? "raw" : o->version ? "true" : "false"); }});
  boolean("help", &o->help, "help for kube-proxy", kAll);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Config file decoding.

class ConfigDecoder {
 public:
  explicit ConfigDecoder(KubeProxyConfiguration* c) : c_(c) {}

  absl::Status Decode(const YAML::Node& root) {
    if (!root.IsMap()) return absl::InvalidArgumentError("KubeProxyConfiguration: the document is not a mapping");
    std::string api_version, kind;
    std::set<std::string> seen;
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      absl::Status s;
      if (!seen.insert(key).second) Duplicate(key);
      if (key == "apiVersion") s = Str(v, key, &api_version);
      else if (key == "kind") s = Str(v, key, &kind);
      else if (key == "featureGates") s = Gates(v, key);
      else if (key == "bindAddress") s = Str(v, key, &c_->bind_address);
      else if (key == "healthzBindAddress") s = Str(v, key, &c_->healthz_bind_address);
      else if (key == "metricsBindAddress") s = Str(v, key, &c_->metrics_bind_address);
      else if (key == "bindAddressHardFail") s = Bool(v, key, &c_->bind_address_hard_fail);
      else if (key == "enableProfiling") s = Bool(v, key, &c_->enable_profiling);
      else if (key == "showHiddenMetricsForVersion") s = Str(v, key, &c_->show_hidden_metrics_for_version);
      else if (key == "clusterCIDR") s = Str(v, key, &c_->cluster_cidr);
      else if (key == "hostnameOverride") s = Str(v, key, &c_->hostname_override);
      else if (key == "clientConnection") s = ClientConnection(v, key);
      else if (key == "iptables") s = Iptables(v, key);
      else if (key == "ipvs") s = Ipvs(v, key);
      else if (key == "nftables") s = Nftables(v, key);
      else if (key == "winkernel") s = Ignored(v, key, {"networkName", "sourceVip", "enableDSR", "rootHnsEndpointName", "forwardHealthCheckVip"});
      else if (key == "detectLocalMode") s = Str(v, key, &c_->detect_local_mode);
      else if (key == "detectLocal") s = DetectLocal(v, key);
      else if (key == "mode") s = Str(v, key, &c_->mode);
      else if (key == "nodePortAddresses") s = List(v, key, &c_->node_port_addresses);
      else if (key == "oomScoreAdj") s = Int(v, key, &c_->oom_score_adj);
      else if (key == "conntrack") s = Conntrack(v, key);
      else if (key == "configSyncPeriod") s = Dur(v, key, &c_->config_sync_period);
      else if (key == "portRange") s = Str(v, key, &c_->port_range);
      else if (key == "udpIdleTimeout") { absl::Duration ignored; s = Dur(v, key, &ignored); }
      else if (key == "logging") s = Logging(v, key);
      else Unknown(key);
      if (!s.ok()) return s;
    }
    if (kind != kKind) {
      return absl::InvalidArgumentError(absl::StrCat("KubeProxyConfiguration: kind: got \"", kind, "\", want \"", kKind, "\""));
    }
    if (api_version != kApiVersion) {
      return absl::InvalidArgumentError(absl::StrCat("KubeProxyConfiguration: apiVersion: got \"", api_version,
                                                     "\", want \"", kApiVersion, "\""));
    }
    return absl::OkStatus();
  }

  // What strict decoding would have refused (unknown and duplicate fields, as upstream's strict
  // decoder names them); the lenient decode ignores unknown fields and lets the last duplicate win.
  const std::vector<std::string>& strict_errors() const { return strict_errors_; }

 private:
  void Unknown(const std::string& path) {
    strict_errors_.push_back(absl::StrCat("unknown field \"", path, "\""));
  }
  void Duplicate(const std::string& path) {
    strict_errors_.push_back(absl::StrCat("duplicate field \"", path, "\""));
  }
  static absl::Status Bad(const std::string& path, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("KubeProxyConfiguration: ", path, ": ", why));
  }
  static absl::StatusOr<std::string> Scalar(const YAML::Node& v, const std::string& path) {
    if (!v.IsScalar()) return Bad(path, "expected a scalar value");
    return v.Scalar();
  }

  absl::Status Str(const YAML::Node& v, const std::string& path, std::string* dst) {
    if (v.IsNull()) return absl::OkStatus();
    auto s = Scalar(v, path);
    if (!s.ok()) return s.status();
    *dst = *s;
    return absl::OkStatus();
  }
  absl::Status Bool(const YAML::Node& v, const std::string& path, bool* dst) {
    if (v.IsNull()) return absl::OkStatus();
    auto s = Scalar(v, path);
    if (!s.ok()) return s.status();
    std::string lower = absl::AsciiStrToLower(*s);
    if (lower != "true" && lower != "false") return Bad(path, absl::StrCat("invalid boolean \"", *s, "\""));
    *dst = lower == "true";
    return absl::OkStatus();
  }
  absl::Status Int(const YAML::Node& v, const std::string& path, int32_t* dst) {
    if (v.IsNull()) return absl::OkStatus();
    auto s = Scalar(v, path);
    if (!s.ok()) return s.status();
    auto n = ParseInt32(*s);
    if (!n.ok()) return Bad(path, n.status().message());
    *dst = *n;
    return absl::OkStatus();
  }
  absl::Status Double(const YAML::Node& v, const std::string& path, double* dst) {
    if (v.IsNull()) return absl::OkStatus();
    auto s = Scalar(v, path);
    if (!s.ok()) return s.status();
    auto n = ParseDouble(*s);
    if (!n.ok()) return Bad(path, n.status().message());
    *dst = *n;
    return absl::OkStatus();
  }
  absl::Status Dur(const YAML::Node& v, const std::string& path, absl::Duration* dst) {
    if (v.IsNull()) return absl::OkStatus();
    auto s = Scalar(v, path);
    if (!s.ok()) return s.status();
    auto d = ParseGoDuration(*s);
    if (!d.ok()) return Bad(path, d.status().message());
    *dst = *d;
    return absl::OkStatus();
  }
  absl::Status List(const YAML::Node& v, const std::string& path, std::vector<std::string>* dst) {
    if (v.IsNull()) return absl::OkStatus();
    if (!v.IsSequence()) return Bad(path, "expected a list");
    dst->clear();
    for (size_t i = 0; i < v.size(); ++i) {
      auto s = Scalar(v[i], absl::StrCat(path, "[", i, "]"));
      if (!s.ok()) return s.status();
      dst->push_back(*s);
    }
    return absl::OkStatus();
  }
  absl::Status Gates(const YAML::Node& v, const std::string& path) {
    if (v.IsNull()) return absl::OkStatus();
    if (!v.IsMap()) return Bad(path, "expected a mapping of gate names to booleans");
    for (const auto& kv : v) {
      std::string name = kv.first.as<std::string>();
      bool b = false;
      if (auto s = Bool(kv.second, absl::StrCat(path, ".", name), &b); !s.ok()) return s;
      c_->feature_gates[name] = b;
    }
    return absl::OkStatus();
  }
  // Walks a nested mapping, dispatching each key; unknown keys fail naming the full path.
  absl::Status Map(const YAML::Node& v, const std::string& path,
                   const std::function<std::optional<absl::Status>(const std::string&, const YAML::Node&,
                                                                   const std::string&)>& field) {
    if (v.IsNull()) return absl::OkStatus();
    if (!v.IsMap()) return Bad(path, "expected a mapping");
    std::set<std::string> seen;
    for (const auto& kv : v) {
      std::string key = kv.first.as<std::string>();
      std::string sub = absl::StrCat(path, ".", key);
      if (!seen.insert(key).second) Duplicate(sub);
      std::optional<absl::Status> s = field(key, kv.second, sub);
      if (!s.has_value()) {
        Unknown(sub);
        continue;
      }
      if (!s->ok()) return *s;
    }
    return absl::OkStatus();
  }
  absl::Status Ignored(const YAML::Node& v, const std::string& path, std::set<std::string> known) {
    return Map(v, path, [&](const std::string& k, const YAML::Node&, const std::string&) -> std::optional<absl::Status> {
      if (known.count(k)) return absl::OkStatus();
      return std::nullopt;
    });
  }
  absl::Status ClientConnection(const YAML::Node& v, const std::string& path) {
    auto* cc = &c_->client_connection;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "kubeconfig") return Str(n, p, &cc->kubeconfig);
      if (k == "acceptContentTypes") return Str(n, p, &cc->accept_content_types);
      if (k == "contentType") return Str(n, p, &cc->content_type);
      if (k == "qps") return Double(n, p, &cc->qps);
      if (k == "burst") return Int(n, p, &cc->burst);
      return std::nullopt;
    });
  }
  absl::Status Iptables(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->iptables;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "masqueradeBit") return Int(n, p, &t->masquerade_bit);
      if (k == "masqueradeAll") return Bool(n, p, &t->masquerade_all);
      if (k == "localhostNodePorts") return Bool(n, p, &t->localhost_node_ports);
      if (k == "syncPeriod") return Dur(n, p, &t->sync_period);
      if (k == "minSyncPeriod") return Dur(n, p, &t->min_sync_period);
      return std::nullopt;
    });
  }
  absl::Status Ipvs(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->ipvs;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "syncPeriod") return Dur(n, p, &t->sync_period);
      if (k == "minSyncPeriod") return Dur(n, p, &t->min_sync_period);
      if (k == "scheduler") return Str(n, p, &t->scheduler);
      if (k == "excludeCIDRs") return List(n, p, &t->exclude_cidrs);
      if (k == "strictARP") return Bool(n, p, &t->strict_arp);
      if (k == "tcpTimeout") return Dur(n, p, &t->tcp_timeout);
      if (k == "tcpFinTimeout") return Dur(n, p, &t->tcp_fin_timeout);
      if (k == "udpTimeout") return Dur(n, p, &t->udp_timeout);
      return std::nullopt;
    });
  }
  absl::Status Nftables(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->nftables;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "masqueradeBit") return Int(n, p, &t->masquerade_bit);
      if (k == "masqueradeAll") return Bool(n, p, &t->masquerade_all);
      if (k == "syncPeriod") return Dur(n, p, &t->sync_period);
      if (k == "minSyncPeriod") return Dur(n, p, &t->min_sync_period);
      return std::nullopt;
    });
  }
  absl::Status DetectLocal(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->detect_local;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "bridgeInterface") return Str(n, p, &t->bridge_interface);
      if (k == "interfaceNamePrefix") return Str(n, p, &t->interface_name_prefix);
      return std::nullopt;
    });
  }
  absl::Status Conntrack(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->conntrack;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "maxPerCore") return Int(n, p, &t->max_per_core);
      if (k == "min") return Int(n, p, &t->min);
      if (k == "tcpEstablishedTimeout") return Dur(n, p, &t->tcp_established_timeout);
      if (k == "tcpCloseWaitTimeout") return Dur(n, p, &t->tcp_close_wait_timeout);
      if (k == "tcpBeLiberal") return Bool(n, p, &t->tcp_be_liberal);
      if (k == "udpTimeout") return Dur(n, p, &t->udp_timeout);
      if (k == "udpStreamTimeout") return Dur(n, p, &t->udp_stream_timeout);
      return std::nullopt;
    });
  }
  absl::Status Logging(const YAML::Node& v, const std::string& path) {
    auto* t = &c_->logging;
    return Map(v, path, [&](const std::string& k, const YAML::Node& n, const std::string& p) -> std::optional<absl::Status> {
      if (k == "format") return Str(n, p, &t->format);
      if (k == "verbosity") return Int(n, p, &t->verbosity);
      if (k == "flushFrequency") {
        // A duration string, or a number of nanoseconds as upstream also accepts.
        if (n.IsScalar()) {
          int64_t ns;
          if (absl::SimpleAtoi(n.Scalar(), &ns)) {
            t->flush_frequency = absl::Nanoseconds(ns);
            return absl::OkStatus();
          }
        }
        return Dur(n, p, &t->flush_frequency);
      }
      if (k == "vmodule") {
        if (n.IsNull()) return absl::OkStatus();
        if (!n.IsSequence()) return Bad(p, "expected a list");
        t->vmodule.clear();
        for (const auto& e : n) {
          if (e.IsMap()) {
            t->vmodule.push_back(absl::StrCat(e["filePattern"].as<std::string>(""), "=", e["verbosity"].as<std::string>("0")));
          } else if (e.IsScalar()) {
            t->vmodule.push_back(e.Scalar());
          }
        }
        return absl::OkStatus();
      }
      if (k == "options") {
        return Map(n, p, [&](const std::string& format, const YAML::Node& fn, const std::string& fp)
                             -> std::optional<absl::Status> {
          const bool text = format == "text";
          if (!text && format != "json") return std::nullopt;
          bool* split = text ? &t->text_split_stream : &t->json_split_stream;
          int64_t* buffer = text ? &t->text_info_buffer_size : &t->json_info_buffer_size;
          return Map(fn, fp, [&](const std::string& o, const YAML::Node& on, const std::string& op)
                                 -> std::optional<absl::Status> {
            if (o == "splitStream") return Bool(on, op, split);
            if (o == "infoBufferSize") {
              if (on.IsNull()) return absl::OkStatus();
              auto q = Scalar(on, op);
              if (!q.ok()) return q.status();
              auto bytes = ParseByteQuantity(*q);
              if (!bytes.ok()) return Bad(op, bytes.status().message());
              *buffer = *bytes;
              return absl::OkStatus();
            }
            return std::nullopt;
          });
        });
      }
      return std::nullopt;
    });
  }

  KubeProxyConfiguration* c_;
  std::vector<std::string> strict_errors_;
};

// upstream's SetDefaults_KubeProxyConfiguration for values a file left zero/empty, plus the
// platform defaults (mode iptables, detectLocalMode ClusterCIDR).
void ApplyFileDefaults(KubeProxyConfiguration* c) {
  KubeProxyConfiguration d;
  if (c->bind_address.empty()) c->bind_address = d.bind_address;
  bool v4 = true;
  if (auto ip = proxier::IpAddress::Parse(c->bind_address); ip.ok()) v4 = ip->is_v4();
  if (c->healthz_bind_address.empty()) {
    c->healthz_bind_address = v4 ? "0.0.0.0:10256" : "[::]:10256";
  } else {
    c->healthz_bind_address = AppendPortIfNeeded(c->healthz_bind_address, 10256);
  }
  if (c->metrics_bind_address.empty()) {
    c->metrics_bind_address = v4 ? "127.0.0.1:10249" : "[::1]:10249";
  } else {
    c->metrics_bind_address = AppendPortIfNeeded(c->metrics_bind_address, 10249);
  }
  if (c->iptables.sync_period == absl::ZeroDuration()) c->iptables.sync_period = d.iptables.sync_period;
  if (c->iptables.min_sync_period == absl::ZeroDuration()) c->iptables.min_sync_period = d.iptables.min_sync_period;
  if (c->ipvs.sync_period == absl::ZeroDuration()) c->ipvs.sync_period = d.ipvs.sync_period;
  if (c->nftables.sync_period == absl::ZeroDuration()) c->nftables.sync_period = d.nftables.sync_period;
  if (c->nftables.min_sync_period == absl::ZeroDuration()) c->nftables.min_sync_period = d.nftables.min_sync_period;
  if (c->config_sync_period == absl::ZeroDuration()) c->config_sync_period = d.config_sync_period;
  if (c->client_connection.content_type.empty()) c->client_connection.content_type = d.client_connection.content_type;
  if (c->client_connection.qps == 0) c->client_connection.qps = d.client_connection.qps;
  if (c->client_connection.burst == 0) c->client_connection.burst = d.client_connection.burst;
  if (c->mode.empty()) c->mode = d.mode;
  if (c->detect_local_mode.empty()) c->detect_local_mode = d.detect_local_mode;
  if (c->logging.format.empty()) c->logging.format = d.logging.format;
  if (c->logging.flush_frequency == absl::ZeroDuration()) c->logging.flush_frequency = d.logging.flush_frequency;
}

// Fields that a file sets to an explicit null/zero but upstream keeps as pointers default when
// absent: the KubeProxyConfiguration() constructor already holds those defaults, so a file that
// omits them keeps them.
KubeProxyConfiguration EmptyForFile() {
  KubeProxyConfiguration c;
  // Non-pointer fields start empty so ApplyFileDefaults can tell "unset" apart.
  c.bind_address.clear();
  c.healthz_bind_address.clear();
  c.metrics_bind_address.clear();
  c.mode.clear();
  c.detect_local_mode.clear();
  return c;
}

}  // namespace

absl::StatusOr<KubeProxyConfiguration> ParseConfiguration(absl::string_view text,
                                                          std::vector<std::string>* warnings) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("KubeProxyConfiguration: not YAML or JSON: ", e.what()));
  }
  KubeProxyConfiguration c = EmptyForFile();
  try {
    ConfigDecoder decoder(&c);
    if (absl::Status s = decoder.Decode(root); !s.ok()) return s;
    if (!decoder.strict_errors().empty() && warnings != nullptr) {
      // Upstream decodes strictly first and, on unknown or duplicate fields only, decodes again
      // leniently and warns: a newer kubeadm's ConfigMap must not stop the proxy.
      warnings->push_back(absl::StrCat("KubeProxyConfiguration: strict decoding failed (",
                                       absl::StrJoin(decoder.strict_errors(), ", "),
                                       "); using lenient decoding, which ignores unknown fields"));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("KubeProxyConfiguration: ", e.what()));
  }
  ApplyFileDefaults(&c);
  return c;
}

absl::StatusOr<KubeProxyConfiguration> LoadConfigurationFile(const std::string& path,
                                                             std::vector<std::string>* warnings) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--config: cannot read \"", path, "\""));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::vector<std::string> decode_warnings;
  auto c = ParseConfiguration(buffer.str(), &decode_warnings);
  if (warnings != nullptr) {
    for (const std::string& w : decode_warnings) warnings->push_back(absl::StrCat("--config ", path, ": ", w));
  }
  if (!c.ok()) {
    return absl::Status(c.status().code(), absl::StrCat("--config ", path, ": ", c.status().message()));
  }
  return c;
}

absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  FlagExtras x;
  std::vector<FlagSpec> flags = BuildFlags(&o, &x);
  std::set<std::string> changed;
  // Values in order, replayed onto the file's configuration for the flags that still apply.
  std::vector<std::pair<const FlagSpec*, std::string>> given;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\": kube-proxy takes only flags"));
    }
    absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name;
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    } else {
      name = std::string(body);
    }
    if (name == "h") name = "help";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : flags) {
      if (f.name == name) spec = &f;
    }
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag: --", name));
    if (!value.has_value()) {
      if (spec->kind == FlagKind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: --", name));
      }
    }
    if (absl::Status s = spec->set(*value); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid argument \"", *value, "\" for \"--", name, "\" flag: ", s.message()));
    }
    if (!spec->deprecated.empty()) {
      o.deprecation_warnings.push_back(absl::StrCat("Flag --", name, " has been deprecated, ", spec->deprecated));
    }
    changed.insert(name);
    given.emplace_back(spec, *value);
  }
  if (!o.config_file.empty()) {
    auto file = LoadConfigurationFile(o.config_file, &o.config_warnings);
    if (!file.ok()) return file.status();
    o.config = *std::move(file);
    // Replay the flags that upstream still honours over the file's values.
    for (const auto& [spec, value] : given) {
      if (spec->with_config == WithConfig::kApplies) {
        (void)spec->set(value);
      } else {
        o.ignored_flags.push_back(absl::StrCat("--", spec->name));
      }
    }
  } else if (o.write_config_to.empty()) {
    if (changed.count("healthz-port")) {
      o.config.healthz_bind_address = x.healthz_port == 0 ? "" : ReplacePort(o.config.healthz_bind_address, x.healthz_port);
    }
    if (changed.count("metrics-port")) {
      o.config.metrics_bind_address = x.metrics_port == 0 ? "" : ReplacePort(o.config.metrics_bind_address, x.metrics_port);
    }
  }
  if (changed.count("hostname-override")) {
    std::string h(absl::StripAsciiWhitespace(o.config.hostname_override));
    if (h.empty()) return absl::InvalidArgumentError("--hostname-override: empty hostname-override is invalid");
    o.config.hostname_override = absl::AsciiStrToLower(h);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Validation.

namespace {

class Errors {
 public:
  void Add(absl::string_view field, absl::string_view flag, absl::string_view value, absl::string_view why) {
    std::string where(field);
    if (!flag.empty()) absl::StrAppend(&where, " (--", flag, ")");
    list_.push_back(absl::StrCat(where, ": invalid value \"", value, "\": ", why));
  }
  absl::Status ToStatus() const {
    if (list_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("invalid configuration: ", absl::StrJoin(list_, "; ")));
  }

 private:
  std::vector<std::string> list_;
};

bool IsIp(const std::string& s) { return proxier::IpAddress::Parse(s).ok(); }

// The Kubernetes minor version kproxy follows is 1.35; --show-hidden-metrics-for-version accepts
// only the one before it, as upstream's metrics options do.
constexpr char kPreviousMinorVersion[] = "1.34";

// "ip:port" with a literal IP ("[v6]:port"), port 0..65535.
bool IsIpPort(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!IsIp(host) || proxier::IpAddress::Parse(host)->is_v4()) return false;
  } else if (!IsIp(host) || !proxier::IpAddress::Parse(host)->is_v4()) {
    return false;
  }
  int port;
  return absl::SimpleAtoi(s.substr(colon + 1), &port) && port >= 0 && port <= 65535;
}

void ValidatePeriods(Errors& e, absl::string_view prefix, absl::string_view flag_prefix, absl::Duration sync,
                     absl::Duration min_sync) {
  std::string sync_field = absl::StrCat(prefix, ".syncPeriod");
  std::string min_field = absl::StrCat(prefix, ".minSyncPeriod");
  std::string sync_flag = flag_prefix.empty() ? "" : absl::StrCat(flag_prefix, "-sync-period");
  std::string min_flag = flag_prefix.empty() ? "" : absl::StrCat(flag_prefix, "-min-sync-period");
  if (sync <= absl::ZeroDuration()) e.Add(sync_field, sync_flag, FormatGoDuration(sync), "must be greater than 0");
  if (min_sync < absl::ZeroDuration()) {
    e.Add(min_field, min_flag, FormatGoDuration(min_sync), "must be greater than or equal to 0");
  }
  if (min_sync > sync) {
    e.Add(sync_field, sync_flag, FormatGoDuration(sync),
          absl::StrCat("must be greater than or equal to ", min_field, " (", FormatGoDuration(min_sync), ")"));
  }
}

}  // namespace

absl::Status ValidateConfiguration(const KubeProxyConfiguration& c) {
  Errors e;
  if (c.mode != "iptables" && c.mode != "ipvs" && c.mode != "nftables") {
    e.Add("mode", "proxy-mode", c.mode, "must be one of iptables, ipvs, nftables");
  }
  if (c.iptables.masquerade_bit < 0 || c.iptables.masquerade_bit > 31) {
    e.Add("iptables.masqueradeBit", "iptables-masquerade-bit", absl::StrCat(c.iptables.masquerade_bit),
          "must be within the range [0, 31]");
  }
  if (c.nftables.masquerade_bit < 0 || c.nftables.masquerade_bit > 31) {
    e.Add("nftables.masqueradeBit", "", absl::StrCat(c.nftables.masquerade_bit), "must be within the range [0, 31]");
  }
  ValidatePeriods(e, "iptables", "iptables", c.iptables.sync_period, c.iptables.min_sync_period);
  ValidatePeriods(e, "ipvs", "ipvs", c.ipvs.sync_period, c.ipvs.min_sync_period);
  ValidatePeriods(e, "nftables", "", c.nftables.sync_period, c.nftables.min_sync_period);
  if (c.config_sync_period <= absl::ZeroDuration()) {
    e.Add("configSyncPeriod", "config-sync-period", FormatGoDuration(c.config_sync_period), "must be greater than 0");
  }
  static const std::set<std::string> kSchedulers = {"", "rr", "wrr", "lc", "wlc", "lblc", "lblcr",
                                                    "sh", "dh", "sed", "nq", "mh"};
  if (!kSchedulers.count(c.ipvs.scheduler)) {
    e.Add("ipvs.scheduler", "ipvs-scheduler", c.ipvs.scheduler, "unknown IPVS scheduler");
  }
  for (size_t i = 0; i < c.ipvs.exclude_cidrs.size(); ++i) {
    if (!proxier::Cidr::Parse(c.ipvs.exclude_cidrs[i]).ok()) {
      e.Add(absl::StrCat("ipvs.excludeCIDRs[", i, "]"), "ipvs-exclude-cidrs", c.ipvs.exclude_cidrs[i], "must be a valid CIDR");
    }
  }
  for (const auto& [field, d] : {std::pair<const char*, absl::Duration>{"ipvs.tcpTimeout", c.ipvs.tcp_timeout},
                                 {"ipvs.tcpFinTimeout", c.ipvs.tcp_fin_timeout},
                                 {"ipvs.udpTimeout", c.ipvs.udp_timeout},
                                 {"conntrack.tcpEstablishedTimeout", c.conntrack.tcp_established_timeout},
                                 {"conntrack.tcpCloseWaitTimeout", c.conntrack.tcp_close_wait_timeout},
                                 {"conntrack.udpTimeout", c.conntrack.udp_timeout},
                                 {"conntrack.udpStreamTimeout", c.conntrack.udp_stream_timeout}}) {
    if (d < absl::ZeroDuration()) e.Add(field, "", FormatGoDuration(d), "must be greater than or equal to 0");
  }
  if (c.conntrack.max_per_core < 0) {
    e.Add("conntrack.maxPerCore", "conntrack-max-per-core", absl::StrCat(c.conntrack.max_per_core), "must be greater than or equal to 0");
  }
  if (c.conntrack.min < 0) {
    e.Add("conntrack.min", "conntrack-min", absl::StrCat(c.conntrack.min), "must be greater than or equal to 0");
  }
  if (c.oom_score_adj < -1000 || c.oom_score_adj > 1000) {
    e.Add("oomScoreAdj", "oom-score-adj", absl::StrCat(c.oom_score_adj), "must be within the range [-1000, 1000]");
  }
  if (!IsIp(c.bind_address)) e.Add("bindAddress", "bind-address", c.bind_address, "must be a valid IP address");
  if (!IsIpPort(c.healthz_bind_address) && !c.healthz_bind_address.empty()) {
    e.Add("healthzBindAddress", "healthz-bind-address", c.healthz_bind_address, "must be IP:port");
  }
  if (!c.metrics_bind_address.empty() && !IsIpPort(c.metrics_bind_address)) {
    e.Add("metricsBindAddress", "metrics-bind-address", c.metrics_bind_address, "must be IP:port");
  }
  if (!c.cluster_cidr.empty()) {
    std::vector<std::string> cidrs = SplitList(c.cluster_cidr);
    bool ok = cidrs.size() <= 2;
    std::set<proxier::IpFamily> families;
    for (const std::string& s : cidrs) {
      auto cidr = proxier::Cidr::Parse(s);
      if (!cidr.ok()) {
        e.Add("clusterCIDR", "cluster-cidr", s, "must be a valid CIDR");
        ok = true;  // reported
        continue;
      }
      families.insert(cidr->family());
    }
    if (!ok || (cidrs.size() == 2 && families.size() != 2)) {
      e.Add("clusterCIDR", "cluster-cidr", c.cluster_cidr, "must be one CIDR or a dual-stack pair of CIDRs");
    }
  }
  if (c.node_port_addresses.size() == 1 && c.node_port_addresses[0] == "primary") {
    // The single word "primary" is allowed.
  } else {
    for (size_t i = 0; i < c.node_port_addresses.size(); ++i) {
      if (!proxier::Cidr::Parse(c.node_port_addresses[i]).ok()) {
        e.Add(absl::StrCat("nodePortAddresses[", i, "]"), "nodeport-addresses", c.node_port_addresses[i],
              "must be a valid CIDR or the single word \"primary\"");
      }
    }
  }
  static const std::set<std::string> kLocalModes = {"ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"};
  if (!kLocalModes.count(c.detect_local_mode)) {
    e.Add("detectLocalMode", "detect-local-mode", c.detect_local_mode,
          "must be one of ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix");
  } else if (c.detect_local_mode == "BridgeInterface" && c.detect_local.bridge_interface.empty()) {
    e.Add("detectLocal.bridgeInterface", "pod-bridge-interface", "", "must be set when detectLocalMode is BridgeInterface");
  } else if (c.detect_local_mode == "InterfaceNamePrefix" && c.detect_local.interface_name_prefix.empty()) {
    e.Add("detectLocal.interfaceNamePrefix", "pod-interface-name-prefix", "",
          "must be set when detectLocalMode is InterfaceNamePrefix");
  }
  if (c.logging.format != "text" && c.logging.format != "json") {
    e.Add("logging.format", "logging-format", c.logging.format, "must be \"text\" or \"json\"");
  }
  if (c.logging.verbosity < 0) e.Add("logging.verbosity", "v", absl::StrCat(c.logging.verbosity), "must be >= 0");
  if (auto vmodule = logging::ParseVmodule(c.logging.vmodule); !vmodule.ok()) {
    e.Add("logging.vmodule", "vmodule", absl::StrJoin(c.logging.vmodule, ","), vmodule.status().message());
  }
  if (c.client_connection.burst < 0) {
    e.Add("clientConnection.burst", "kube-api-burst", absl::StrCat(c.client_connection.burst), "must be >= 0");
  }
  if (absl::Status s = ValidateFeatureGates(c.feature_gates); !s.ok()) {
    std::vector<std::string> given;
    for (const auto& [k, v] : c.feature_gates) given.push_back(absl::StrCat(k, "=", v ? "true" : "false"));
    e.Add("featureGates", "feature-gates", absl::StrJoin(given, ","), s.message());
  }
  if (!c.show_hidden_metrics_for_version.empty() && c.show_hidden_metrics_for_version != kPreviousMinorVersion) {
    e.Add("showHiddenMetricsForVersion", "show-hidden-metrics-for-version", c.show_hidden_metrics_for_version,
          absl::StrCat("must be omitted or have the value '", kPreviousMinorVersion,
                       "'. Only the previous minor version is allowed"));
  }
  if (c.logging.flush_frequency <= absl::ZeroDuration()) {
    e.Add("logging.flushFrequency", "log-flush-frequency", FormatGoDuration(c.logging.flush_frequency),
          "must be greater than 0");
  }
  const bool alpha_logging = FeatureGateEnabled(c.feature_gates, "LoggingAlphaOptions");
  for (const auto& [format, split, buffer] :
       {std::tuple<const char*, bool, int64_t>{"text", c.logging.text_split_stream, c.logging.text_info_buffer_size},
        {"json", c.logging.json_split_stream, c.logging.json_info_buffer_size}}) {
    if (split && !alpha_logging) {
      e.Add(absl::StrCat("logging.options.", format, ".splitStream"), absl::StrCat("log-", format, "-split-stream"),
            "true", "Feature LoggingAlphaOptions is disabled");
    }
    if (buffer != 0) {
      e.Add(absl::StrCat("logging.options.", format, ".infoBufferSize"),
            absl::StrCat("log-", format, "-info-buffer-size"), absl::StrCat(buffer),
            "kproxy does not buffer info messages (each line is written at once): only 0 is supported");
    }
  }
  return e.ToStatus();
}

// ---------------------------------------------------------------------------------------------
// YAML output. Keys in alphabetical order, as upstream's encoder writes them.

std::string ConfigurationToYaml(const KubeProxyConfiguration& c) {
  YAML::Emitter out;
  auto dur = [](absl::Duration d) { return FormatGoDuration(d); };
  auto seq = [&out](const std::vector<std::string>& v) {
    if (v.empty()) {
      out << YAML::Null;
      return;
    }
    out << YAML::BeginSeq;
    for (const auto& s : v) out << s;
    out << YAML::EndSeq;
  };
  auto quoted = [&out](const std::string& s) { out << YAML::DoubleQuoted << s; };
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << kApiVersion;
  out << YAML::Key << "bindAddress" << YAML::Value; quoted(c.bind_address);
  out << YAML::Key << "bindAddressHardFail" << YAML::Value << c.bind_address_hard_fail;
  out << YAML::Key << "clientConnection" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "acceptContentTypes" << YAML::Value; quoted(c.client_connection.accept_content_types);
  out << YAML::Key << "burst" << YAML::Value << c.client_connection.burst;
  out << YAML::Key << "contentType" << YAML::Value << c.client_connection.content_type;
  out << YAML::Key << "kubeconfig" << YAML::Value; quoted(c.client_connection.kubeconfig);
  out << YAML::Key << "qps" << YAML::Value << c.client_connection.qps;
  out << YAML::EndMap;
  out << YAML::Key << "clusterCIDR" << YAML::Value; quoted(c.cluster_cidr);
  out << YAML::Key << "configSyncPeriod" << YAML::Value << dur(c.config_sync_period);
  out << YAML::Key << "conntrack" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "maxPerCore" << YAML::Value << c.conntrack.max_per_core;
  out << YAML::Key << "min" << YAML::Value << c.conntrack.min;
  out << YAML::Key << "tcpBeLiberal" << YAML::Value << c.conntrack.tcp_be_liberal;
  out << YAML::Key << "tcpCloseWaitTimeout" << YAML::Value << dur(c.conntrack.tcp_close_wait_timeout);
  out << YAML::Key << "tcpEstablishedTimeout" << YAML::Value << dur(c.conntrack.tcp_established_timeout);
  out << YAML::Key << "udpStreamTimeout" << YAML::Value << dur(c.conntrack.udp_stream_timeout);
  out << YAML::Key << "udpTimeout" << YAML::Value << dur(c.conntrack.udp_timeout);
  out << YAML::EndMap;
  out << YAML::Key << "detectLocal" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bridgeInterface" << YAML::Value; quoted(c.detect_local.bridge_interface);
  out << YAML::Key << "interfaceNamePrefix" << YAML::Value; quoted(c.detect_local.interface_name_prefix);
  out << YAML::EndMap;
  out << YAML::Key << "detectLocalMode" << YAML::Value << c.detect_local_mode;
  out << YAML::Key << "enableProfiling" << YAML::Value << c.enable_profiling;
  out << YAML::Key << "featureGates" << YAML::Value;
  if (c.feature_gates.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  } else {
    out << YAML::BeginMap;
    for (const auto& [k, v] : c.feature_gates) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap;
  }
  out << YAML::Key << "healthzBindAddress" << YAML::Value; quoted(c.healthz_bind_address);
  out << YAML::Key << "hostnameOverride" << YAML::Value; quoted(c.hostname_override);
  out << YAML::Key << "iptables" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "localhostNodePorts" << YAML::Value << c.iptables.localhost_node_ports;
  out << YAML::Key << "masqueradeAll" << YAML::Value << c.iptables.masquerade_all;
  out << YAML::Key << "masqueradeBit" << YAML::Value << c.iptables.masquerade_bit;
  out << YAML::Key << "minSyncPeriod" << YAML::Value << dur(c.iptables.min_sync_period);
  out << YAML::Key << "syncPeriod" << YAML::Value << dur(c.iptables.sync_period);
  out << YAML::EndMap;
  out << YAML::Key << "ipvs" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "excludeCIDRs" << YAML::Value; seq(c.ipvs.exclude_cidrs);
  out << YAML::Key << "minSyncPeriod" << YAML::Value << dur(c.ipvs.min_sync_period);
  out << YAML::Key << "scheduler" << YAML::Value; quoted(c.ipvs.scheduler);
  out << YAML::Key << "strictARP" << YAML::Value << c.ipvs.strict_arp;
  out << YAML::Key << "syncPeriod" << YAML::Value << dur(c.ipvs.sync_period);
  out << YAML::Key << "tcpFinTimeout" << YAML::Value << dur(c.ipvs.tcp_fin_timeout);
  out << YAML::Key << "tcpTimeout" << YAML::Value << dur(c.ipvs.tcp_timeout);
  out << YAML::Key << "udpTimeout" << YAML::Value << dur(c.ipvs.udp_timeout);
  out << YAML::EndMap;
  out << YAML::Key << "kind" << YAML::Value << kKind;
  out << YAML::Key << "logging" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "flushFrequency" << YAML::Value << dur(c.logging.flush_frequency);
  out << YAML::Key << "format" << YAML::Value << c.logging.format;
  out << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "json" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "infoBufferSize" << YAML::Value; quoted(absl::StrCat(c.logging.json_info_buffer_size));
  out << YAML::Key << "splitStream" << YAML::Value << c.logging.json_split_stream;
  out << YAML::EndMap;
  out << YAML::Key << "text" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "infoBufferSize" << YAML::Value; quoted(absl::StrCat(c.logging.text_info_buffer_size));
  out << YAML::Key << "splitStream" << YAML::Value << c.logging.text_split_stream;
  out << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::Key << "verbosity" << YAML::Value << c.logging.verbosity;
  out << YAML::Key << "vmodule" << YAML::Value; seq(c.logging.vmodule);
  out << YAML::EndMap;
  out << YAML::Key << "metricsBindAddress" << YAML::Value; quoted(c.metrics_bind_address);
  out << YAML::Key << "mode" << YAML::Value << c.mode;
  out << YAML::Key << "nftables" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "masqueradeAll" << YAML::Value << c.nftables.masquerade_all;
  out << YAML::Key << "masqueradeBit" << YAML::Value << c.nftables.masquerade_bit;
  out << YAML::Key << "minSyncPeriod" << YAML::Value << dur(c.nftables.min_sync_period);
  out << YAML::Key << "syncPeriod" << YAML::Value << dur(c.nftables.sync_period);
  out << YAML::EndMap;
  out << YAML::Key << "nodePortAddresses" << YAML::Value; seq(c.node_port_addresses);
  out << YAML::Key << "oomScoreAdj" << YAML::Value << c.oom_score_adj;
  out << YAML::Key << "portRange" << YAML::Value; quoted(c.port_range);
  out << YAML::Key << "showHiddenMetricsForVersion" << YAML::Value; quoted(c.show_hidden_metrics_for_version);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

void JsonString(std::string* out, const std::string& s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// Scalars that the YAML writer emitted unquoted as booleans or numbers stay JSON literals.
void NodeToJson(const YAML::Node& n, std::string* out) {
  if (n.IsMap()) {
    out->push_back('{');
    bool first = true;
    for (const auto& kv : n) {
      if (!first) out->push_back(',');
      first = false;
      JsonString(out, kv.first.as<std::string>());
      out->push_back(':');
      NodeToJson(kv.second, out);
    }
    out->push_back('}');
  } else if (n.IsSequence()) {
    out->push_back('[');
    for (size_t i = 0; i < n.size(); ++i) {
      if (i > 0) out->push_back(',');
      NodeToJson(n[i], out);
    }
    out->push_back(']');
  } else if (n.IsNull()) {
    out->append("null");
  } else {
    const std::string& s = n.Scalar();
    double d;
    if (n.Tag() != "!" && (s == "true" || s == "false" || absl::SimpleAtod(s, &d))) {
      out->append(s);
    } else {
      JsonString(out, s);
    }
  }
}

}  // namespace

std::string ConfigurationToJson(const KubeProxyConfiguration& config) {
  std::string out;
  try {
    NodeToJson(YAML::Load(ConfigurationToYaml(config)), &out);
  } catch (const YAML::Exception&) {
    return "{}";
  }
  return out;
}

std::vector<std::string> ConfigurationWarnings(const KubeProxyConfiguration& c) {
  std::vector<std::string> out = FeatureGateWarnings(c.feature_gates);
  if (c.enable_profiling) {
    out.push_back("enableProfiling (--profiling) is not supported by kproxy: there is no /debug/pprof handler");
  }
  if (c.config_sync_period != KubeProxyConfiguration().config_sync_period) {
    out.push_back(absl::StrCat("configSyncPeriod (--config-sync-period) ", FormatGoDuration(c.config_sync_period),
                               " has no effect in kproxy: its watches deliver every change and there is no "
                               "informer resync to time"));
  }
  return out;
}

std::string HelpText() {
  Options o;
  FlagExtras x;
  std::vector<FlagSpec> flags = BuildFlags(&o, &x);
  std::string text =
      "The Kubernetes network proxy runs on each node. kproxy is a drop-in kube-proxy that also\n"
      "honours ELB pass-through (annotation kubernetes.io/elb.pass-through, ingress ipMode: Proxy).\n\n"
      "Usage:\n  kube-proxy [flags]\n\nFlags:\n";
  for (const FlagSpec& f : flags) {
    std::string head = absl::StrCat(f.name.size() == 1 ? "  -" : "      --", f.name);
    if (f.kind != FlagKind::kBool) absl::StrAppend(&head, " ", KindName(f.kind));
    std::string def = f.get();
    std::string line = absl::StrCat(head, "\n            ", f.help);
    bool show_default = !(def.empty() || def == "false" || def == "[]" || def == "0" && f.kind == FlagKind::kInt);
    if (f.name == "v") show_default = false;
    if (show_default) absl::StrAppend(&line, " (default ", f.kind == FlagKind::kString ? absl::StrCat("\"", def, "\"") : def, ")");
    if (!f.deprecated.empty()) absl::StrAppend(&line, " (DEPRECATED: ", f.deprecated, ")");
    absl::StrAppend(&text, line, "\n");
  }
  return text;
}

}  // namespace kproxy::daemon
