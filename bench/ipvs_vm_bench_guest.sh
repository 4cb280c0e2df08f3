#!/bin/sh
# /init of the IPVS scale VM (bench/ipvs_vm_bench.sh): times kube-proxy --proxy-mode=ipvs --once on
# a generated cluster (/objects/base) written into an empty kernel, a resync with nothing changed,
# and a sync after one endpoint was added (/objects/change); then, as the floor, the same kernel
# state written by the bare tools (ipvsadm -R, ipset restore, iptables-legacy-restore, ip -batch)
# into a clean kernel. Prints "KPROXY-BENCH <name> <seconds> rc=<exit>" lines and powers off.
LOG_PREFIX=KPROXY-BENCH-LOG
. /guest_boot.sh
echo  # the firmware's last console line has no newline
IP=/usr/sbin/ip
$IP link set lo up
# The generated Node's InternalIP, on a host interface (NodePorts go on host addresses).
$IP link add node0 type dummy
$IP addr add 192.0.2.129/24 dev node0
$IP link set node0 up

now() { awk '{print $1}' /proc/uptime; }  # 10 ms resolution, enough for TCG's seconds
timed() {  # timed NAME COMMAND...
  name=$1
  shift
  t0=$(now)
  "$@" > "/tmp/$name.out" 2>&1
  rc=$?
  t1=$(now)
  echo "KPROXY-BENCH $name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') rc=$rc"
  tail -3 "/tmp/$name.out" | sed "s/^/KPROXY-BENCH-LOG $name: /"
}
kube_proxy() { /usr/bin/kube-proxy --proxy-mode=ipvs --hostname-override=node-a --once -v=1 "$@"; }

timed full kube_proxy --objects=/objects/base
ipvsadm -Sn > /tmp/ipvs.save
ipset save > /tmp/ipset.save
iptables-legacy-save > /tmp/iptables.save
$IP -o addr show dev kube-ipvs0 | awk '{ print "addr add " $4 " dev kube-ipvs0" }' > /tmp/addresses
echo "KPROXY-BENCH-COUNT virtual_servers $(grep -c '^-A' /tmp/ipvs.save)"
echo "KPROXY-BENCH-COUNT real_servers $(grep -c '^-a' /tmp/ipvs.save)"
echo "KPROXY-BENCH-COUNT ipset_entries $(grep -c '^add' /tmp/ipset.save)"
echo "KPROXY-BENCH-COUNT bound_addresses $(wc -l < /tmp/addresses)"
echo "KPROXY-BENCH-COUNT iptables_lines $(wc -l < /tmp/iptables.save)"
timed noop kube_proxy --objects=/objects/base
timed endpoint_added kube_proxy --objects=/objects/change

/usr/bin/kube-proxy --cleanup > /tmp/cleanup.out 2>&1 || echo "KPROXY-BENCH-LOG cleanup failed"
timed bare_ipvsadm sh -c 'ipvsadm -R < /tmp/ipvs.save'
timed bare_ipset sh -c 'ipset restore < /tmp/ipset.save'
timed bare_iptables sh -c 'iptables-legacy-restore < /tmp/iptables.save'
$IP link add kube-ipvs0 type dummy
timed bare_addresses $IP -batch /tmp/addresses
echo "KPROXY-BENCH-DONE"
poweroff -f
