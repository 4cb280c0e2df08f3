// fuzz-libs: kproxy_daemon
// Feeds arbitrary bytes to the KubeProxyConfiguration parser (--config), then validates what it
// accepted and checks that a parsed configuration survives a YAML and a JSON round trip: bad files
// must be rejected with a Status, never crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "cmd/kube-proxy/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = kproxy::daemon::ParseConfiguration(text);
  if (!config.ok()) return 0;
  (void)kproxy::daemon::ValidateConfiguration(*config);
  // What we write (--write-config-to) we must be able to read back.
  for (const std::string& written :
       {kproxy::daemon::ConfigurationToYaml(*config), kproxy::daemon::ConfigurationToJson(*config)}) {
    auto again = kproxy::daemon::ParseConfiguration(written);
    if (!again.ok()) {
      fprintf(stderr, "written configuration does not parse back: %s\n---\n%s\n",
              std::string(again.status().message()).c_str(), written.c_str());
      abort();
    }
  }
  return 0;
}
