// fuzz-libs: kproxy_apiclient
// Feeds arbitrary bytes to the API JSON decoder (single objects and Lists): it must reject garbage
// with a Status and never crash, leak or hang.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "apiclient/object_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = kproxy::apiclient::DecodeJsonDocument(text);
  if (decoded.ok()) {
    // Touch the results so that the decoded values are actually materialised.
    volatile size_t n = decoded->services.size() + decoded->endpoint_slices.size() + decoded->nodes.size();
    (void)n;
  }
  return 0;
}
