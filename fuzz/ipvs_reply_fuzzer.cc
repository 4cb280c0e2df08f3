// fuzz-libs: kproxy_backends_ipvs
// Feeds arbitrary bytes as the genl payload of IPVS GET_SERVICE / GET_DEST dump replies (the bytes
// after the genlmsghdr, as NetlinkIpvsClient passes them): never crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "backends/ipvs/ipvs_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);  // aligned copy, like a receive buffer
  absl::Span<const uint8_t> attrs(buf.data(), buf.size());
  (void)kproxy::backends::ipvs::ParseServiceReply(attrs);
  (void)kproxy::backends::ipvs::ParseDestinationReply(attrs);
  return 0;
}
