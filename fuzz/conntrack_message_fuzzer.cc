// fuzz-libs: kproxy_backends_conntrack
// Feeds arbitrary bytes as a ctnetlink dump reply: the messages are walked with the length checks
// of a netlink receive loop and ParseEntryMessage parses each one. A malformed or hostile reply
// must be rejected, never read out of bounds.
//
// Not mnl_cb_run: libmnl 1.0.4's mnl_nlmsg_ok compares (int)nlmsg_len, so a length >= 2^31 passes
// and the walk jumps out of the buffer (reproducer: corpus/conntrack_message/libmnl-negative-nlmsg-len).
// The kernel never sends such a length, so NetlinkConntrackClient is not exposed; the fuzzer walks
// with unsigned arithmetic instead.
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
  size_t offset = 0;
  while (buf.size() - offset >= sizeof(nlmsghdr)) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data() + offset);
    const size_t len = nlh->nlmsg_len;
    if (len < sizeof(nlmsghdr) || len > buf.size() - offset) break;
    if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
      auto entry = kproxy::backends::conntrack::ParseEntryMessage(nlh);
      if (entry.ok()) ++parsed;
    }
    offset += MNL_ALIGN(len);
    if (offset > buf.size()) break;
  }
  volatile size_t sink = parsed;
  (void)sink;
  // And one message on its own, its length field forced to what we have (the shortest the kernel
  // could send with a nfgenmsg is the header plus 4 bytes).
  if (size >= sizeof(nlmsghdr) + 4) {
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data());
    nlh->nlmsg_len = static_cast<uint32_t>(size);
    (void)kproxy::backends::conntrack::ParseEntryMessage(nlh);
  }
  return 0;
}
