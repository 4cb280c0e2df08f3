#include "apiclient/kubeconfig.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kproxy::apiclient {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Resolve(absl::string_view base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts) and returns its
// inner map (the "cluster"/"user"/"context" key).
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner,
                                     const std::string& name, absl::string_view where) {
  const YAML::Node entries = root[list];
  if (entries && !entries.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", list, ": not a list"));
  }
  if (entries) {
    for (const YAML::Node& entry : entries) {
      if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) {
        YAML::Node node = entry[inner];
        if (!node || !node.IsMap()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": ", list, "[\"", name, "\"].", inner, ": missing or not a map"));
        }
        return node;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat(where, ": ", list, ": no entry named \"", name, "\""));
}

std::string GetString(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  if (!value || value.IsNull()) return "";
  return value.as<std::string>();
}

absl::Status DecodeData(const YAML::Node& map, const char* key, absl::string_view field_prefix,
                        std::string* out) {
  const std::string encoded = GetString(map, key);
  if (encoded.empty()) return absl::OkStatus();
  if (!absl::Base64Unescape(encoded, out) || out->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field_prefix, key, ": not valid base64"));
  }
  return absl::OkStatus();
}

absl::Status CheckReadable(const std::string& path, absl::string_view field) {
  if (path.empty()) return absl::OkStatus();
  if (access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", path, ": cannot read: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// users[].user.exec, as client-go's clientcmd reads and validates it.
absl::StatusOr<ExecConfig> ParseExec(const YAML::Node& exec, absl::string_view base_dir,
                                     const std::string& field) {
  if (!exec.IsMap())
    return absl::InvalidArgumentError(
        absl::StrCat(field.substr(0, field.size() - 1), ": not a map"));
  ExecConfig config;
  config.api_version = GetString(exec, "apiVersion");
  if (config.api_version != "client.authentication.k8s.io/v1" &&
      config.api_version != "client.authentication.k8s.io/v1beta1") {
    return absl::InvalidArgumentError(absl::StrCat(
        field, "apiVersion: \"", config.api_version,
        "\": want client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1"));
  }
  config.command = GetString(exec, "command");
  if (config.command.empty())
    return absl::InvalidArgumentError(absl::StrCat(field, "command: not set"));
  // client-go resolves only a relative path that names a folder; a bare name is looked up on PATH.
  if (absl::StrContains(config.command, "/")) config.command = Resolve(base_dir, config.command);
  if (const YAML::Node args = exec["args"]; args && !args.IsNull()) {
    if (!args.IsSequence())
      return absl::InvalidArgumentError(absl::StrCat(field, "args: not a list"));
    for (const YAML::Node& arg : args) config.args.push_back(arg.as<std::string>());
  }
  if (const YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence())
      return absl::InvalidArgumentError(absl::StrCat(field, "env: not a list"));
    for (const YAML::Node& entry : env) {
      const std::string name = entry.IsMap() ? GetString(entry, "name") : "";
      if (name.empty() || absl::StrContains(name, "=")) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, "env: every entry needs a name (without '=')"));
      }
      config.env.emplace_back(name, GetString(entry, "value"));
    }
  }
  config.install_hint = GetString(exec, "installHint");
  if (const YAML::Node v = exec["provideClusterInfo"]; v && !v.IsNull())
    config.provide_cluster_info = v.as<bool>();
  config.interactive_mode = GetString(exec, "interactiveMode");
  if (config.interactive_mode.empty()) {
    if (config.api_version == "client.authentication.k8s.io/v1") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "interactiveMode: must be set with apiVersion ", config.api_version,
                       " (Never or IfAvailable)"));
    }
    config.interactive_mode = "IfAvailable";  // v1beta1's default
  }
  if (config.interactive_mode == "Always") {
    return absl::UnimplementedError(
        absl::StrCat(field,
                     "interactiveMode: Always is not supported: kube-proxy has no terminal (use "
                     "Never or IfAvailable)"));
  }
  if (config.interactive_mode != "Never" && config.interactive_mode != "IfAvailable") {
    return absl::InvalidArgumentError(absl::StrCat(
        field, "interactiveMode: \"", config.interactive_mode, "\": want Never or IfAvailable"));
  }
  return config;
}

absl::StatusOr<ClientConfig> ParseKubeconfigOrThrow(absl::string_view yaml, absl::string_view path,
                                                    absl::string_view base_dir,
                                                    absl::string_view context_override) {
  const std::string where = absl::StrCat("kubeconfig ", path);
  const YAML::Node root = YAML::Load(std::string(yaml));
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, ": not a YAML map"));

  std::string context_name(context_override);
  if (context_name.empty()) context_name = GetString(root, "current-context");
  if (context_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": current-context: not set"));
  }
  absl::StatusOr<YAML::Node> context = FindNamed(root, "contexts", "context", context_name, where);
  if (!context.ok()) return context.status();
  const std::string cluster_name = GetString(*context, "cluster");
  if (cluster_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": contexts[\"", context_name, "\"].context.cluster: not set"));
  }
  absl::StatusOr<YAML::Node> cluster = FindNamed(root, "clusters", "cluster", cluster_name, where);
  if (!cluster.ok()) return cluster.status();

  ClientConfig config;
  config.origin = absl::StrCat(where, " context \"", context_name, "\"");
  const std::string cluster_field = absl::StrCat(where, ": clusters[\"", cluster_name, "\"].cluster.");
  config.server = GetString(*cluster, "server");
  if (config.server.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cluster_field, "server: not set"));
  }
  config.ca_file = Resolve(base_dir, GetString(*cluster, "certificate-authority"));
  if (absl::Status s = CheckReadable(config.ca_file, cluster_field + "certificate-authority"); !s.ok()) {
    return s;
  }
  if (absl::Status s = DecodeData(*cluster, "certificate-authority-data", cluster_field, &config.ca_data);
      !s.ok()) {
    return s;
  }
  if (YAML::Node v = (*cluster)["insecure-skip-tls-verify"]; v && !v.IsNull()) {
    config.insecure_skip_tls_verify = v.as<bool>();
  }
  config.tls_server_name = GetString(*cluster, "tls-server-name");
  config.proxy_url = GetString(*cluster, "proxy-url");
  if (!config.proxy_url.empty() && !absl::StartsWith(config.proxy_url, "http://") &&
      !absl::StartsWith(config.proxy_url, "https://") &&
      !absl::StartsWith(config.proxy_url, "socks5://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(cluster_field, "proxy-url: \"", config.proxy_url,
                     "\": want an http://, https:// or socks5:// URL"));
  }

  const std::string user_name = GetString(*context, "user");
  if (!user_name.empty()) {
    absl::StatusOr<YAML::Node> user = FindNamed(root, "users", "user", user_name, where);
    if (!user.ok()) return user.status();
    const std::string user_field = absl::StrCat(where, ": users[\"", user_name, "\"].user.");
    if ((*user)["auth-provider"]) {
      return absl::UnimplementedError(
          absl::StrCat(user_field,
                       "auth-provider: not supported (client-go removed its auth-provider plugins "
                       "in 1.26); use an exec "
                       "credential plugin, a token, tokenFile or client certificate"));
    }
    for (const char* impersonation : {"as", "as-uid", "as-groups", "as-user-extra"}) {
      if ((*user)[impersonation]) {
        return absl::UnimplementedError(
            absl::StrCat(user_field, impersonation, ": impersonation is not supported"));
      }
    }
    if (const YAML::Node exec = (*user)["exec"]; exec && !exec.IsNull()) {
      absl::StatusOr<ExecConfig> parsed = ParseExec(exec, base_dir, user_field + "exec.");
      if (!parsed.ok()) return parsed.status();
      for (const char* other :
           {"token", "tokenFile", "client-certificate", "client-certificate-data", "username"}) {
        if ((*user)[other]) {
          return absl::InvalidArgumentError(
              absl::StrCat(user_field, "exec: cannot be combined with ", other));
        }
      }
      config.exec = *std::move(parsed);
    }
    config.bearer_token = GetString(*user, "token");
    config.bearer_token_file = Resolve(base_dir, GetString(*user, "tokenFile"));
    if (absl::Status s = CheckReadable(config.bearer_token_file, user_field + "tokenFile"); !s.ok()) return s;
    config.username = GetString(*user, "username");
    config.password = GetString(*user, "password");
    config.client_cert_file = Resolve(base_dir, GetString(*user, "client-certificate"));
    config.client_key_file = Resolve(base_dir, GetString(*user, "client-key"));
    if (absl::Status s = CheckReadable(config.client_cert_file, user_field + "client-certificate"); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckReadable(config.client_key_file, user_field + "client-key"); !s.ok()) return s;
    if (absl::Status s = DecodeData(*user, "client-certificate-data", user_field, &config.client_cert_data);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = DecodeData(*user, "client-key-data", user_field, &config.client_key_data); !s.ok()) {
      return s;
    }
    const bool has_cert = !config.client_cert_file.empty() || !config.client_cert_data.empty();
    const bool has_key = !config.client_key_file.empty() || !config.client_key_data.empty();
    if (has_cert != has_key) {
      return absl::InvalidArgumentError(absl::StrCat(
          user_field, has_cert ? "client-key" : "client-certificate",
          ": missing (client-certificate and client-key must be given together)"));
    }
  }
  return config;
}

}  // namespace

std::string ClientConfig::DebugString() const {
  auto redact = [](const std::string& s) -> std::string { return s.empty() ? "<none>" : "<redacted>"; };
  auto shown = [](const std::string& s) -> std::string { return s.empty() ? "<none>" : s; };
  return absl::StrCat(
      "server: ", server, ", origin: ", origin,
      ", ca: ", !ca_data.empty() ? "<inline>" : shown(ca_file),
      ", client-certificate: ", !client_cert_data.empty() ? "<inline>" : shown(client_cert_file),
      ", client-key: ",
      !client_key_data.empty() || !client_key_file.empty() ? "<redacted>" : "<none>",
      ", token: ", redact(bearer_token), ", tokenFile: ", shown(bearer_token_file),
      ", username: ", shown(username), ", password: ", redact(password), ", exec: ",
      exec.has_value() ? absl::StrCat(exec->command, " (", exec->api_version, ")") : "<none>",
      ", proxy-url: ", absl::StrContains(proxy_url, "@") ? "<redacted>" : shown(proxy_url),
      ", insecure-skip-tls-verify: ", insecure_skip_tls_verify ? "true" : "false",
      ", tls-server-name: ", shown(tls_server_name), ", qps: ", qps, ", burst: ", burst,
      ", contentType: ", content_type);
}

InClusterEnvironment InClusterEnvironment::FromProcess() {
  InClusterEnvironment env;
  if (const char* h = std::getenv("KUBERNETES_SERVICE_HOST")) env.host = h;
  if (const char* p = std::getenv("KUBERNETES_SERVICE_PORT")) env.port = p;
  return env;
}

absl::StatusOr<ClientConfig> ParseKubeconfig(absl::string_view yaml, absl::string_view path,
                                             absl::string_view base_dir,
                                             absl::string_view context_override) {
  try {
    return ParseKubeconfigOrThrow(yaml, path, base_dir, context_override);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
}

absl::StatusOr<ClientConfig> LoadKubeconfigFile(const std::string& path,
                                                absl::string_view context_override) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("kubeconfig ", text.status().message()));
  absl::string_view dir = path;
  const size_t slash = dir.rfind('/');
  dir = slash == absl::string_view::npos ? absl::string_view(".") : dir.substr(0, slash);
  return ParseKubeconfig(*text, path, dir, context_override);
}

absl::StatusOr<ClientConfig> LoadInClusterConfig(const InClusterEnvironment& env) {
  if (env.host.empty() || env.port.empty()) {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(or pass --kubeconfig or --master)");
  }
  ClientConfig config;
  config.origin = "in-cluster";
  const bool ipv6 = absl::StrContains(env.host, ':');
  config.server = absl::StrCat("https://", ipv6 ? "[" : "", env.host, ipv6 ? "]" : "", ":", env.port);
  config.bearer_token_file = absl::StrCat(env.secrets_dir, "/token");
  if (absl::Status s = CheckReadable(config.bearer_token_file, "in-cluster config: token"); !s.ok()) {
    return s;
  }
  // Like client-go: a missing CA is not fatal, the system trust store is used then.
  const std::string ca = absl::StrCat(env.secrets_dir, "/ca.crt");
  if (access(ca.c_str(), R_OK) == 0) config.ca_file = ca;
  return config;
}

absl::StatusOr<ClientConfig> BuildClientConfig(const ConnectionFlags& flags,
                                               const InClusterEnvironment& env) {
  absl::StatusOr<ClientConfig> config;
  if (!flags.kubeconfig.empty()) {
    config = LoadKubeconfigFile(flags.kubeconfig);
    if (config.ok() && !flags.master.empty()) {
      config->server = flags.master;
      absl::StrAppend(&config->origin, " with --master ", flags.master);
    }
  } else if (!flags.master.empty()) {
    config = ClientConfig{};
    config->server = flags.master;
    config->origin = "--master";
  } else {
    config = LoadInClusterConfig(env);
  }
  if (!config.ok()) return config.status();
  config->qps = flags.qps;
  config->burst = flags.burst;
  if (!flags.content_type.empty()) config->content_type = flags.content_type;
  return config;
}

}  // namespace kproxy::apiclient
