// fuzz-libs: kproxy_apiclient
// Feeds arbitrary lines to the watch-stream event decoder, reusing one parser as the reflector does.
#include <cstddef>
#include <cstdint>

#include <simdjson.h>

#include "absl/strings/string_view.h"
#include "apiclient/object_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  auto event = kproxy::apiclient::DecodeWatchEventLine(
      parser, absl::string_view(reinterpret_cast<const char*>(data), size));
  if (event.ok()) {
    volatile bool has_object = event->object.has_value();
    (void)has_object;
  }
  return 0;
}
