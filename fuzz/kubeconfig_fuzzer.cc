// fuzz-libs: kproxy_apiclient
// Feeds arbitrary bytes to the kubeconfig parser (YAML, base64 data fields, contexts): it must
// answer with a Status and never crash, leak or hang. File fields resolve against a folder that
// does not exist, so the fuzzer reads no files.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "apiclient/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = kproxy::apiclient::ParseKubeconfig(text, "/nonexistent-kproxy-fuzz/kubeconfig",
                                                   "/nonexistent-kproxy-fuzz");
  (void)config;
  // A context override that may or may not exist in the document.
  auto with_context = kproxy::apiclient::ParseKubeconfig(text, "/nonexistent-kproxy-fuzz/kubeconfig",
                                                         "/nonexistent-kproxy-fuzz", "fuzz");
  (void)with_context;
  return 0;
}
