// LinkManager: the dummy interface IPVS mode binds its virtual addresses to (kube-ipvs0) and the
// addresses on it.
#pragma once

#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::ipvs {

class LinkManager {
 public:
  virtual ~LinkManager() = default;
  // Creates the dummy link when missing; left down, as upstream does (addresses on a down dummy are
  // still local, and the link answers nothing by itself). Idempotent.
  virtual absl::Status EnsureDummyLink(absl::string_view name) = 0;
  // Addresses on the link of the family; NotFound when the link does not exist.
  virtual absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListAddresses(absl::string_view name,
                                                                             proxier::IpFamily family) = 0;
  // The family's addresses on every link except `except_link` (which need not exist): the node's
  // own addresses, as opposed to the Service VIPs on kube-ipvs0. Loopback and link-local included.
  virtual absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListLocalAddresses(absl::string_view except_link,
                                                                                  proxier::IpFamily family) = 0;
  // Adds ip/32 (ip/128); AlreadyExists when present, NotFound without the link.
  virtual absl::Status AddAddress(absl::string_view name, const proxier::IpAddress& ip) = 0;
  // NotFound when absent.
  virtual absl::Status DeleteAddress(absl::string_view name, const proxier::IpAddress& ip) = 0;
  // Deletes the link; NotFound when it does not exist.
  virtual absl::Status DeleteLink(absl::string_view name) = 0;
};

}  // namespace kproxy::backends::ipvs
