// ProxyServer: kube-proxy's wiring — object source (--objects files or the API server), ProxyState
// per IP family, the Node, the Proxier of the mode, the sync runner, health and metrics servers,
// process setup and signals. Entry points for the binary's modes (run, --once, --dry-run, --cleanup).
#pragma once

#include <ostream>

#include "cmd/kube-proxy/options.h"

namespace kproxy::daemon {

// Blocks SIGTERM/SIGINT in the calling thread (call first in main, before any thread starts) so
// that RunProxy receives them with sigtimedwait.
void BlockTerminationSignals();

// Runs the proxy until SIGTERM/SIGINT (rules stay in place), a --config change, or a fatal
// error; with --once syncs once; with --dry-run prints to `out` and touches nothing. Returns the
// process exit code. Expects validated options.
int RunProxy(const Options& options, std::ostream& out);

// --cleanup: removes kube-proxy's iptables chains (both families, both modes) and IPVS state.
// Returns the exit code: 0 when everything present was removed.
int RunCleanup(const Options& options);

}  // namespace kproxy::daemon
