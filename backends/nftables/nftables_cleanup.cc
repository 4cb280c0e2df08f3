#include "backends/nftables/nftables_cleanup.h"

#include <errno.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/nfnetlink/nfnetlink_socket.h"
#include "logging/log.h"

namespace kproxy::backends::nftables {
namespace {

// errnos that mean "this kernel has no nf_tables (for this family)": nothing can be left over.
bool NoNfTables(int error) {
  return error == EOPNOTSUPP || error == EAFNOSUPPORT || error == EPROTONOSUPPORT;
}

}  // namespace

absl::Status CleanupNftables() {
  auto socket = nfnetlink::NfnetlinkSocket::Open();
  if (!socket.ok()) {
    // No nfnetlink at all: no nftables table can exist.
    KLOG_V(2) << "nftables cleanup skipped: " << socket.status().message();
    return absl::OkStatus();
  }
  absl::Status first;
  for (uint8_t family : {uint8_t{NFPROTO_IPV4}, uint8_t{NFPROTO_IPV6}}) {
    const char* family_name = family == NFPROTO_IPV4 ? "ip" : "ip6";
    std::unique_ptr<nftnl_table, void (*)(const nftnl_table*)> table(nftnl_table_alloc(),
                                                               nftnl_table_free);
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, kKubeProxyTable);
    const uint32_t begin = (*socket)->TakeSequences(4);
    std::string batch;
    batch.resize(64);
    batch.resize(NLMSG_ALIGN(nftnl_batch_begin(batch.data(), begin)->nlmsg_len));
    nfnetlink::AppendMessage(
        batch, NFT_MSG_DELTABLE, family, NLM_F_ACK, begin + 1,
        [&](nlmsghdr* header) { nftnl_table_nlmsg_build_payload(header, table.get()); });
    const size_t at = batch.size();
    batch.resize(at + 64);
    batch.resize(at + NLMSG_ALIGN(nftnl_batch_end(&batch[at], begin + 2)->nlmsg_len));
    const std::string blocks[] = {std::move(batch)};
    auto answer = (*socket)->SendBatch(blocks, begin, begin + 2, 1);
    absl::Status status;
    if (!answer.ok()) {
      status = answer.status();
    } else if (answer->first_error) {
      const int error = answer->first_error->error_number;
      if (error == ENOENT) continue;
      if (NoNfTables(error)) {
        KLOG_V(2) << "nftables cleanup: no nf_tables for family " << family_name << " ("
                  << nfnetlink::ErrnoText(error) << ")";
        continue;
      }
      status = absl::InternalError(nfnetlink::ErrnoText(error));
    } else {
      KLOG_INFO << "Deleted the nftables table " << family_name << " " << kKubeProxyTable
                << " left by an nftables-mode kube-proxy";
      continue;
    }
    KLOG_ERROR << "nftables cleanup: DELTABLE " << family_name << " " << kKubeProxyTable << ": "
               << status.message();
    if (first.ok()) {
      first = absl::Status(status.code(), absl::StrCat("nftables: DELTABLE ", family_name, " ",
                                                       kKubeProxyTable, ": ", status.message()));
    }
  }
  return first;
}

}  // namespace kproxy::backends::nftables
