// ClientConfig: how to reach and authenticate to the API server, loaded from a kubeconfig file
// (--kubeconfig), overridden by --master, or from the in-cluster service account.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kproxy::apiclient {

// users[].user.exec of a kubeconfig: a client-go credential plugin, run without a terminal
// (client.authentication.k8s.io/v1 or v1beta1 ExecCredential on its stdout).
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or .../v1beta1
  std::string command;  // a relative path with a '/' is resolved against the kubeconfig's folder
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
  std::string install_hint;                              // shown when the command is missing
  bool provide_cluster_info = false;  // KUBERNETES_EXEC_INFO carries spec.cluster
  std::string interactive_mode;       // "Never" or "IfAvailable" (both: never a terminal here)
};

struct ClientConfig {
  std::string server;  // https://host:port[/prefix]
  // TLS. Each "*_data" is PEM bytes (already base64-decoded); a "*_file" is used when data is empty.
  std::string ca_file;
  std::string ca_data;
  std::string client_cert_file;
  std::string client_cert_data;
  std::string client_key_file;
  std::string client_key_data;
  bool insecure_skip_tls_verify = false;
  // Name to verify the server certificate against (and send as SNI) instead of the URL's host.
  std::string tls_server_name;
  // Authentication: a token file wins over a static token (it is re-read when it changes).
  std::string bearer_token;
  std::string bearer_token_file;
  std::string username;
  std::string password;
  // A credential plugin supplying a token or a client certificate (then none of the above is set).
  std::optional<ExecConfig> exec;
  // clusters[].cluster.proxy-url: http://, https:// or socks5:// proxy for every request (libcurl's
  // CURLOPT_PROXY). Empty: the http_proxy/https_proxy/no_proxy environment, as client-go.
  std::string proxy_url;
  // clientConnection: qps <= 0 disables the rate limiter.
  double qps = 5;
  int burst = 10;
  // What the configuration asked for; requests always ask for application/json (we decode
  // only JSON), and a protobuf request is logged once by the client.
  std::string content_type = "application/json";
  // Where this came from, for messages: "kubeconfig /etc/k.conf context \"ctx\"", "in-cluster".
  std::string origin;

  // One line for logs, with every credential replaced by "<redacted>".
  std::string DebugString() const;
};

// Inputs of the in-cluster configuration; injectable so tests need no real pod.
struct InClusterEnvironment {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::string secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  static InClusterEnvironment FromProcess();
};

// The connection flags of kube-proxy (--kubeconfig, --master, --kube-api-*), or the
// clientConnection section of its configuration file.
struct ConnectionFlags {
  std::string kubeconfig;
  std::string master;
  double qps = 5;
  int burst = 10;
  std::string content_type = "application/vnd.kubernetes.protobuf";
};

// Parses kubeconfig text. Relative file paths are resolved against base_dir (the kubeconfig's
// own folder, as kubectl does); file fields are checked to be readable. Errors name the file and
// the field: "kubeconfig /k.conf: users[\"me\"].user.client-key-data: not valid base64".
absl::StatusOr<ClientConfig> ParseKubeconfig(absl::string_view yaml, absl::string_view path,
                                             absl::string_view base_dir,
                                             absl::string_view context_override = "");
absl::StatusOr<ClientConfig> LoadKubeconfigFile(const std::string& path,
                                                absl::string_view context_override = "");
// Service-account token + CA under env.secrets_dir, server from the service environment.
absl::StatusOr<ClientConfig> LoadInClusterConfig(const InClusterEnvironment& env);

// kube-proxy's rule: --kubeconfig (with --master overriding its server), else --master alone
// (no credentials), else in-cluster. qps/burst/content type come from flags.
absl::StatusOr<ClientConfig> BuildClientConfig(
    const ConnectionFlags& flags,
    const InClusterEnvironment& env = InClusterEnvironment::FromProcess());

}  // namespace kproxy::apiclient
