// Ctnetlink message builders and parser: conntrack requests as byte values (testable without a
// kernel), kept apart from the socket round trip in NetlinkConntrackClient.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/conntrack/conntrack_client.h"

struct nlmsghdr;

namespace kproxy::backends::conntrack {

// IPCTNL_MSG_CT_GET with NLM_F_DUMP for one address family (the kernel filters by nfgen_family).
std::vector<uint8_t> BuildDumpRequest(proxier::IpFamily family, uint32_t seq);
// IPCTNL_MSG_CT_DELETE of the entry identified by its original tuple, asking for an ACK.
std::vector<uint8_t> BuildDeleteRequest(const ConntrackEntry& entry, uint32_t seq);
// IPCTNL_MSG_CT_NEW carrying both tuples, the shape of one dump reply message (tests build dump
// replies with it).
std::vector<uint8_t> BuildEntryMessage(const ConntrackEntry& entry, uint32_t seq);

// Parses one ctnetlink entry message (both tuples). Entries that are not TCP/UDP/SCTP are
// InvalidArgument; callers skip them.
absl::StatusOr<ConntrackEntry> ParseEntryMessage(const nlmsghdr* nlh);

}  // namespace kproxy::backends::conntrack
