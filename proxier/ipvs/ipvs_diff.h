// DiffIpvs: the pure comparison of a desired IPVS state with what the kernel holds, as the
// ordered list of operations that an applier executes one by one.
#pragma once

#include <vector>

#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::proxier::ipvs {

// Order: bind new addresses; per virtual server (in key order) add or edit it, then its
// destinations (deletions and edits first, then additions); delete virtual servers no longer
// desired; unbind addresses no longer desired (so a Service flipping to pass-through is unbound
// after the sync that removed its virtual servers).
//
// One changed virtual server or destination is exactly one operation. Graceful termination is
// read from the observed state, so it survives restarts: a TCP destination no longer desired is
// first edited to weight 0, and deleted by a later diff once it has no active or inactive
// connections; UDP and SCTP destinations are deleted at once (expire_nodest_conn drops their
// flows on the next packet).
std::vector<IpvsOperation> DiffIpvs(const DesiredIpvsState& desired, const ObservedIpvsState& observed);

// Whether two virtual servers differ in what an edit operation changes (scheduler, flags other
// than the kernel-owned hashed bit, persistence timeout).
bool ServerNeedsEdit(const VirtualServer& desired, const VirtualServer& observed);

}  // namespace kproxy::proxier::ipvs
