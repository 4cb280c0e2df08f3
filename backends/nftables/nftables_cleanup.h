// CleanupNftables: removes the nftables mode's tables (`kube-proxy` in families ip and ip6) that
// upstream's or kproxy's nftables mode left, as upstream's nftables CleanupLeftovers does.
#pragma once

#include "absl/status/status.h"

namespace kproxy::backends::nftables {

// The name of the table the nftables mode owns in each family, as upstream.
inline constexpr char kKubeProxyTable[] = "kube-proxy";

// Deletes table `kube-proxy` with everything in it, in family ip and in ip6, each in its own
// transaction over netlink (no `nft` process). A table that does not exist, and a kernel without
// nf_tables (or without one of the families), are not errors. Idempotent.
absl::Status CleanupNftables();

}  // namespace kproxy::backends::nftables
