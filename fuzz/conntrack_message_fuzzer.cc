// fuzz-libs: kproxy_backends_conntrack
// Feeds arbitrary bytes as a ctnetlink dump reply: libmnl walks the messages exactly as
// NetlinkConntrackClient's receive loop does (length checks included) and ParseEntryMessage parses
// each one. A malformed or hostile reply must be rejected, never read out of bounds.
#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/conntrack/conntrack_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Netlink buffers are 4-byte aligned; a vector's heap storage is.
  std::vector<uint8_t> buf(data, data + size);
  size_t parsed = 0;
  mnl_cb_run(
      buf.data(), buf.size(), /*seq=*/0, /*portid=*/0,
      [](const nlmsghdr* nlh, void* out) -> int {
        auto entry = kproxy::backends::conntrack::ParseEntryMessage(nlh);
        if (entry.ok()) ++*static_cast<size_t*>(out);
        return MNL_CB_OK;
      },
      &parsed);
  // And one message on its own, its length field forced to what we have (the shortest the kernel
  // could send with a nfgenmsg is the header plus 4 bytes).
  if (size >= sizeof(nlmsghdr) + 4) {
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data());
    nlh->nlmsg_len = static_cast<uint32_t>(size);
    (void)kproxy::backends::conntrack::ParseEntryMessage(nlh);
  }
  return 0;
}
