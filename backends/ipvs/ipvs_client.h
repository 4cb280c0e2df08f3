// IpvsClient: the kernel's IPVS table (virtual servers and their real servers) for one network
// namespace, as the applier and the proxier read and write it.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::backends::ipvs {

using proxier::ipvs::IpvsService;
using proxier::ipvs::RealServer;
using proxier::ipvs::VirtualServer;
using proxier::ipvs::VirtualServerKey;

class IpvsClient {
 public:
  virtual ~IpvsClient() = default;
  // Every virtual server (fwmark services are skipped) with its real servers, including their
  // active/inactive connection counts.
  virtual absl::StatusOr<std::vector<IpvsService>> ListServices() = 0;
  // Creates the virtual server; AlreadyExists when one with the same key exists.
  virtual absl::Status AddService(const VirtualServer& server) = 0;
  // Changes scheduler/flags/timeout; NotFound when the virtual server does not exist.
  virtual absl::Status EditService(const VirtualServer& server) = 0;
  // Deletes the virtual server and its real servers; NotFound when it does not exist.
  virtual absl::Status DeleteService(const VirtualServerKey& key) = 0;
  // Adds a masquerading real server; NotFound without the virtual server, AlreadyExists if present.
  virtual absl::Status AddDestination(const VirtualServer& server, const RealServer& destination) = 0;
  // Changes the weight; NotFound when the virtual server or real server does not exist.
  virtual absl::Status EditDestination(const VirtualServer& server, const RealServer& destination) = 0;
  // NotFound when the virtual server or real server does not exist.
  virtual absl::Status DeleteDestination(const VirtualServer& server, const RealServer& destination) = 0;
  // The connection timeouts (--ipvs-tcp-timeout, --ipvs-tcpfin-timeout, --ipvs-udp-timeout).
  virtual absl::Status SetTimeouts(const proxier::ipvs::IpvsTimeouts& timeouts) = 0;
  virtual absl::StatusOr<proxier::ipvs::IpvsTimeouts> GetTimeouts() = 0;

  // Runs IPVS table writes (service and destination kinds only) in order and returns one status
  // per write, as the single-write methods above would. This default calls them one by one; the
  // netlink client sends many requests before reading their acknowledgements (IPVS has no
  // transactions, but the kernel handles one socket's requests in order), so a full sync of 200k
  // writes costs a few hundred round trips instead of 200k.
  virtual std::vector<absl::Status> WriteBatch(absl::Span<const proxier::ipvs::IpvsOperation> writes);
};

// Whether `kind` is a write WriteBatch() takes (not an address bind/unbind).
bool IsIpvsTableWrite(proxier::ipvs::IpvsOperation::Kind kind);

}  // namespace kproxy::backends::ipvs
