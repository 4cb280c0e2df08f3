// kube-proxy: kproxy's entry point. Parses the command line, sets up logging, and hands over to
// the daemon (cmd/kube-proxy/proxy_server.h).
#include <signal.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cmd/kube-proxy/options.h"
#include "cmd/kube-proxy/process_setup.h"
#include "cmd/kube-proxy/proxy_server.h"
#include "logging/log.h"
#include "version/version.h"

int main(int argc, char** argv) {
  using namespace kproxy::daemon;
  BlockTerminationSignals();
  // A peer that resets a health, metrics or health-check-port connection while we write to it
  // must cost that connection only (EPIPE), never the process. Children get SIGPIPE back
  // (RunSubprocess resets it).
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = ParseOptions(args);
  if (!options.ok()) {
    std::cerr << "Error: " << options.status().message() << "\nRun 'kube-proxy --help' for usage.\n";
    return 1;
  }
  if (options->help) {
    std::cout << HelpText();
    return 0;
  }
  if (options->version) {
    const kproxy::version::Info& info = kproxy::version::Get();
    std::cout << (options->version_raw ? kproxy::version::Raw(info) : kproxy::version::Summary(info))
              << "\n";
    return 0;
  }
  kproxy::logging::SetVerbosity(options->config.logging.verbosity);
  kproxy::logging::SetFormat(options->config.logging.format == "json" ? kproxy::logging::Format::kJson
                                                                      : kproxy::logging::Format::kText);
  for (const std::string& w : options->deprecation_warnings) KLOG_WARNING << w;
  for (const std::string& w : options->config_warnings) KLOG_WARNING << w;
  if (auto vmodule = kproxy::logging::ParseVmodule(options->config.logging.vmodule); vmodule.ok()) {
    kproxy::logging::SetVmodule(*std::move(vmodule));  // validated with the rest of the options
  }
  if (!options->ignored_flags.empty()) {
    std::string list;
    for (const std::string& f : options->ignored_flags) list += (list.empty() ? "" : ", ") + f;
    KLOG_WARNING << "Flags ignored because --config is given (set them in the file instead): " << list;
  }
  if (options->iptables_variant != "auto" && options->iptables_variant != "legacy" && options->iptables_variant != "nft") {
    std::cerr << "Error: invalid argument \"" << options->iptables_variant
              << "\" for \"--iptables-variant\" flag: must be auto, legacy or nft\n";
    return 1;
  }
  if (absl::Status s = ValidateConfiguration(options->config); !s.ok()) {
    std::cerr << "Error: " << s.message() << "\n";
    return 1;
  }
  const KubeProxyConfiguration::Logging& log_options = options->config.logging;
  kproxy::logging::SetSplitStream(log_options.format == "json" ? log_options.json_split_stream
                                                               : log_options.text_split_stream);
  for (const std::string& w : ConfigurationWarnings(options->config)) KLOG_WARNING << w;
  if (!options->write_config_to.empty()) {
    std::ofstream out(options->write_config_to);
    out << ConfigurationToYaml(options->config);
    out.close();
    if (!out) {
      std::cerr << "Error: cannot write " << options->write_config_to << "\n";
      return 1;
    }
    KLOG_INFO << "Wrote configuration to " << options->write_config_to;
    return 0;
  }
  if (options->cleanup) return RunCleanup(*options);
  if (options->init_only) {
    if (absl::Status s = InitializeNode(options->config); !s.ok()) {
      std::cerr << "kube-proxy --init-only: " << s.message() << "\n";
      return 1;
    }
    KLOG_INFO << "System initialized and --init-only specified; exiting";
    return 0;
  }
  return RunProxy(*options, std::cout);
}
