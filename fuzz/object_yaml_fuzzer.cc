// fuzz-libs: kproxy_apiclient
// Feeds arbitrary bytes to the multi-document YAML decoder used for --objects files.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "apiclient/object_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // yaml-cpp is recursive; bound the input, as the file source does not need more to be fuzzed
  auto decoded = kproxy::apiclient::DecodeYamlDocuments(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  volatile size_t n = decoded.services.size() + decoded.errors.size();
  (void)n;
  return 0;
}
