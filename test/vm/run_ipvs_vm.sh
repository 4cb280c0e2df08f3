#!/usr/bin/env bash
# The IPVS VM test: boots Debian's cloud kernel under qemu (TCG; KVM does not work on these hosts)
# with an initramfs holding the driver, runs guest_init.sh inside, and asserts that every expected
# "KPROXY-VM-CHECK <name> PASS" line was printed.
#   run_ipvs_vm.sh --driver BIN --cache DIR --work DIR [--kube-proxy BIN]
# With --kube-proxy the guest runs `kube-proxy --proxy-mode=ipvs --objects=... --once` (and
# --cleanup); otherwise ipvs_vm_driver, which runs the same IpvsProxier.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
driver="" cache="" work="" timeout_s=300 kube_proxy=""
while (($#)); do
  case $1 in
    --driver) driver=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --kube-proxy) kube_proxy=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$driver" && -n "$cache" && -n "$work" ]] || { echo "usage: $0 --driver BIN --cache DIR --work DIR" >&2; exit 2; }
for tool in qemu-system-x86_64 ipvsadm ipset cpio modprobe depmod busybox; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup.sh" >&2; exit 1; }
done
mkdir -p "$work"
kroot=$("$here/fetch_kernel.sh" "$cache")
"$here/build_initramfs.sh" "$kroot" "$driver" "$here/objects" "$here/guest_init.sh" "$work/initramfs.cpio.gz" "$kube_proxy"

log="$work/console.log"
qemu_pid=""
cleanup() { if [[ -n "$qemu_pid" ]]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT INT TERM
boot() {
  local start rc=0
  start=$(date +%s)
  "$here/boot_vm.sh" "$kroot" "$work/initramfs.cpio.gz" "$timeout_s" >"$log" 2>&1 &
  qemu_pid=$!
  wait "$qemu_pid" || rc=$?
  qemu_pid=""
  echo "vm: qemu exited $rc after $(( $(date +%s) - start )) s; console log: $log"
}
boot
# A kernel that died before /init ran (early-boot flake under load) gets one more boot.
# (grep reads files, not pipes: with pipefail, grep -q closing a pipe early would fail the test.)
tr -d '\r' < "$log" > "$log.clean"
if ! grep -q 'KPROXY-VM-LOG syncing' "$log.clean"; then
  echo "vm: guest never reached the test; booting once more"
  tail -5 "$log"
  boot
  tr -d '\r' < "$log" > "$log.clean"
fi

expected=(sync_ok ipvs_clusterip_virtual_server ipvs_clusterip_real_servers ipvs_nodeport_virtual_server
  ipvs_lb_virtual_server ipset_cluster_ip ipset_load_balancer ipset_node_port kube_ipvs0_bound
  kube_ipvs0_node_ip_not_bound kube_ipvs0_is_dummy_and_down sysctl_vs_conntrack iptables_ipvs_filter
  conn_clusterip_from_client conn_clusterip_both_backends conn_clusterip_from_pod conn_clusterip_from_node
  conn_nodeport_from_client ipvs_nodeport_on_every_host_address conn_nodeport_on_client_side_address
  ipvs_no_nodeport_on_kube_ipvs0 conn_lb_vip_local conn_lb_vip_from_client ipvs_filter_node_listener_reachable
  ipvs_filter_rejects_other_ports ipvs_ipv6_clusterip_virtual_server ipvs_ipv6_bound ipset_ipv6_cluster_ip
  conn_ipv6_clusterip_from_client conn_ipv6_clusterip_from_pod conn_ipv6_nodeport_from_client
  source_ranges_client_allowed source_ranges_pod_dropped
  source_ranges_node_dropped source_ranges_out_filter_rule passthrough_not_bound passthrough_no_virtual_server
  passthrough_no_ipset_entry passthrough_from_pod_goes_to_elb passthrough_from_node_goes_to_elb
  passthrough_nodeport_still_served mixed_group_conflict_reported mixed_group_bound
  mixed_group_every_port_has_virtual_server mixed_group_port80_reachable mixed_group_port81_reachable
  mixed_pass_group_conflict_reported mixed_pass_group_not_bound mixed_pass_group_port80_to_elb
  mixed_pass_group_port81_to_elb
  resync_is_noop flip_sync_ok flip_unbinds_address flip_removes_virtual_server flip_goes_to_elb
  flip_keeps_clusterip drain_connection_counted
  drain_first_sync_weight_zero drain_idle_backend_deleted drain_busy_backend_kept cleanup_ok cleanup_virtual_servers cleanup_link cleanup_ipsets)
# Only kube-proxy itself takes --ipvs-*-timeout (the driver fallback does not).
[[ -n "$kube_proxy" ]] && expected+=(ipvs_timeouts)
grep -E '^KPROXY-VM-(CHECK|LOG)' "$log.clean" || true
failed=0
for name in "${expected[@]}"; do
  if ! grep -q "^KPROXY-VM-CHECK $name PASS" "$log.clean"; then
    echo "vm: check $name did not pass: $(grep "^KPROXY-VM-CHECK $name " "$log.clean" || echo 'not run')"
    failed=1
  fi
done
grep -q '^KPROXY-VM-DONE' "$log.clean" || { echo "vm: guest did not finish (timeout or crash)"; tail -20 "$log"; failed=1; }
if ((failed)); then echo "vm: FAILED"; exit 1; fi
echo "vm: all ${#expected[@]} checks passed"
