// Options: kube-proxy's command line and its KubeProxyConfiguration (kubeproxy.config.k8s.io/
// v1alpha1) file, merged the way upstream merges them, with upstream's defaults and validation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kproxy::daemon {

// The v1alpha1 KubeProxyConfiguration, field for field (JSON names in the comments), holding
// upstream's defaults (pkg/proxy/apis/config/v1alpha1/defaults.go plus platform defaults).
struct KubeProxyConfiguration {
  struct ClientConnection {
    std::string kubeconfig;                                       // kubeconfig
    std::string accept_content_types;                             // acceptContentTypes
    std::string content_type = "application/vnd.kubernetes.protobuf";  // contentType
    double qps = 5;                                               // qps
    int32_t burst = 10;                                           // burst
    friend bool operator==(const ClientConnection&, const ClientConnection&) = default;
  };
  struct Iptables {
    int32_t masquerade_bit = 14;           // masqueradeBit
    bool masquerade_all = false;           // masqueradeAll
    bool localhost_node_ports = true;      // localhostNodePorts
    absl::Duration sync_period = absl::Seconds(30);     // syncPeriod
    absl::Duration min_sync_period = absl::Seconds(1);  // minSyncPeriod
    friend bool operator==(const Iptables&, const Iptables&) = default;
  };
  struct Ipvs {
    absl::Duration sync_period = absl::Seconds(30);
    absl::Duration min_sync_period = absl::ZeroDuration();
    std::string scheduler;                  // "" means rr
    std::vector<std::string> exclude_cidrs;  // excludeCIDRs
    bool strict_arp = false;                 // strictARP
    absl::Duration tcp_timeout = absl::ZeroDuration();
    absl::Duration tcp_fin_timeout = absl::ZeroDuration();
    absl::Duration udp_timeout = absl::ZeroDuration();
    friend bool operator==(const Ipvs&, const Ipvs&) = default;
  };
  struct Nftables {
    int32_t masquerade_bit = 14;
    bool masquerade_all = false;
    absl::Duration sync_period = absl::Seconds(30);
    absl::Duration min_sync_period = absl::Seconds(1);
    friend bool operator==(const Nftables&, const Nftables&) = default;
  };
  struct Conntrack {
    int32_t max_per_core = 32768;  // maxPerCore; 0 leaves nf_conntrack_max alone
    int32_t min = 131072;          // min
    absl::Duration tcp_established_timeout = absl::Hours(24);  // 0: leave as-is
    absl::Duration tcp_close_wait_timeout = absl::Hours(1);
    bool tcp_be_liberal = false;
    absl::Duration udp_timeout = absl::ZeroDuration();
    absl::Duration udp_stream_timeout = absl::ZeroDuration();
    friend bool operator==(const Conntrack&, const Conntrack&) = default;
  };
  struct DetectLocal {
    std::string bridge_interface;       // bridgeInterface
    std::string interface_name_prefix;  // interfaceNamePrefix
    friend bool operator==(const DetectLocal&, const DetectLocal&) = default;
  };
  struct Logging {
    std::string format = "text";  // text | json
    int32_t verbosity = 0;
    std::vector<std::string> vmodule;  // "pattern=N" entries (logging::ParseVmodule)
    absl::Duration flush_frequency = absl::Seconds(5);
    // options.text / options.json: info lines to stdout, the rest to stderr (LoggingAlphaOptions);
    // the info buffer size in bytes (kproxy does not buffer: only 0 is accepted).
    bool text_split_stream = false;
    int64_t text_info_buffer_size = 0;
    bool json_split_stream = false;
    int64_t json_info_buffer_size = 0;
    friend bool operator==(const Logging&, const Logging&) = default;
  };

  std::map<std::string, bool> feature_gates;
  std::string bind_address = "0.0.0.0";
  std::string healthz_bind_address = "0.0.0.0:10256";
  std::string metrics_bind_address = "127.0.0.1:10249";
  bool bind_address_hard_fail = false;
  bool enable_profiling = false;
  std::string show_hidden_metrics_for_version;
  std::string cluster_cidr;  // comma-separated, at most one per family
  std::string hostname_override;
  ClientConnection client_connection;
  Iptables iptables;
  Ipvs ipvs;
  Nftables nftables;
  std::string detect_local_mode = "ClusterCIDR";
  DetectLocal detect_local;
  std::string mode = "iptables";
  std::vector<std::string> node_port_addresses;  // CIDRs, or the single word "primary"
  int32_t oom_score_adj = -999;
  Conntrack conntrack;
  absl::Duration config_sync_period = absl::Minutes(15);
  std::string port_range;
  Logging logging;

  // The sync intervals of the configured mode (ipvs.* for ipvs, iptables.* otherwise).
  absl::Duration SyncPeriod() const;
  absl::Duration MinSyncPeriod() const;

  friend bool operator==(const KubeProxyConfiguration&, const KubeProxyConfiguration&) = default;
};

// Everything the command line says, with `config` the effective configuration.
struct Options {
  std::string config_file;      // --config
  std::string write_config_to;  // --write-config-to
  bool cleanup = false;         // --cleanup
  bool init_only = false;       // --init-only
  std::string master;           // --master
  std::string objects;          // --objects (kproxy): file or directory instead of an API server
  bool once = false;            // --once (kproxy)
  bool dry_run = false;         // --dry-run (kproxy)
  std::string iptables_variant = "auto";  // --iptables-variant (kproxy): auto | legacy | nft
  bool help = false;
  bool version = false;      // --version: print version information and quit
  bool version_raw = false;  // --version=raw: upstream's Go-syntax version.Info instead
  KubeProxyConfiguration config;
  // Flags that were given but have no effect because --config was given (upstream ignores them).
  std::vector<std::string> ignored_flags;
  // Deprecated flags that were used, with upstream's deprecation message.
  std::vector<std::string> deprecation_warnings;
  // What the --config file's lenient decoding ignored (unknown or duplicate fields), to log.
  std::vector<std::string> config_warnings;
};

// Parses the arguments (argv without argv[0]): "--flag=value", "--flag value", "-flag", bools as
// "--flag" / "--flag=false", "-v=N". When --config is given, the file is read and replaces the
// flag values except for --hostname-override and the logging flags (-v, --vmodule,
// --logging-format), as upstream. Unknown flags and malformed values fail naming the flag.
// Does not validate (see ValidateConfiguration).
absl::StatusOr<Options> ParseOptions(const std::vector<std::string>& args);

// Decodes a KubeProxyConfiguration document (YAML or JSON) and applies upstream's defaults to what
// it leaves unset. A wrong kind/apiVersion and malformed values fail naming the field. Unknown and
// duplicate fields do not fail (upstream's strict-then-lenient decoding): they are ignored (the
// last duplicate wins) and one warning naming them is added to `warnings`.
absl::StatusOr<KubeProxyConfiguration> ParseConfiguration(absl::string_view text,
                                                          std::vector<std::string>* warnings = nullptr);
absl::StatusOr<KubeProxyConfiguration> LoadConfigurationFile(const std::string& path,
                                                             std::vector<std::string>* warnings = nullptr);

// The configuration as a v1alpha1 YAML document (what --write-config-to writes); parses back to
// an equal configuration.
std::string ConfigurationToYaml(const KubeProxyConfiguration& config);

// The same document as one line of JSON (for /configz).
std::string ConfigurationToJson(const KubeProxyConfiguration& config);

// Upstream's validation.go rules; the error lists every problem, each naming the field and flag.
absl::Status ValidateConfiguration(const KubeProxyConfiguration& config);

// What the configuration accepts but cannot act on, to log at start: profiling, a non-default
// configSyncPeriod, feature gates that are GA or have no effect on Linux.
std::vector<std::string> ConfigurationWarnings(const KubeProxyConfiguration& config);

// --help text: usage line, then every flag with its default and help.
std::string HelpText();

}  // namespace kproxy::daemon
