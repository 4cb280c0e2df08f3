#!/bin/sh
# /init of the IPVS VM. The root namespace is the node; network namespaces pod1, pod2 (backends),
# client (off-cluster client) and elb (the cloud load balancer, which owns the ELB addresses and
# answers "elb"). Runs the driver, checks the kernel and real connections, prints one
# "KPROXY-VM-CHECK <name> PASS|FAIL <detail>" line per check, then powers off.
LOG_PREFIX=KPROXY-VM-LOG
. /guest_boot.sh
IP=/usr/sbin/ip

check() {  # check NAME DETAIL CONDITION...
  name=$1 detail=$2
  shift 2
  if "$@" >/dev/null 2>&1; then echo "KPROXY-VM-CHECK $name PASS $detail"; else echo "KPROXY-VM-CHECK $name FAIL $detail"; fi
}
# fetch NS IP PORT: one HTTP request, prints the body's first word (pod1/pod2/elb) or "none".
fetch() {
  if [ "$1" = node ]; then run=""; else run="$IP netns exec $1"; fi
  body=$(printf 'GET / HTTP/1.0\r\n\r\n' | $run /bin/busybox timeout 5 /bin/busybox nc "$2" "$3" 2>/dev/null | tail -n 1 | tr -d '\r')
  echo "${body:-none}"
}
answers() {  # answers NS IP PORT WANT_REGEX: one request answered by WANT
  got=$(fetch "$1" "$2" "$3")
  echo "KPROXY-VM-LOG fetch $1 -> $2:$3 = $got"
  echo "$got" | grep -Eq "^($4)$"
}

$IP link set lo up
for ns in pod1 pod2 client elb; do $IP netns add $ns; $IP -n $ns link set lo up; done
link() {  # link NODE_IF NODE_ADDR NS NS_IF NS_ADDR GATEWAY
  $IP link add "$1" type veth peer name "$4"
  $IP link set "$4" netns "$3"
  $IP addr add "$2" dev "$1"; $IP link set "$1" up
  $IP -n "$3" addr add "$5" dev "$4"; $IP -n "$3" link set "$4" up
  $IP -n "$3" route add default via "$6"
}
link np1 10.0.1.1/24 pod1 eth0 10.0.1.5/24 10.0.1.1
link np2 10.0.2.1/24 pod2 eth0 10.0.2.5/24 10.0.2.1
link nc0 198.51.100.1/24 client eth0 198.51.100.2/24 198.51.100.1
link ne0 192.0.2.129/25 elb eth0 192.0.2.130/25 192.0.2.129
# IPv6 on the pod and client links too (nodad: usable at once), for the IPv6 Service.
link6() {  # link6 NODE_IF NODE_ADDR NS NS_ADDR GATEWAY
  $IP -6 addr add "$2" dev "$1" nodad
  $IP -n "$3" -6 addr add "$4" dev eth0 nodad
  $IP -n "$3" -6 route add default via "$5"
}
link6 np1 fd00:1::1/64 pod1 fd00:1::5/64 fd00:1::1
link6 np2 fd00:2::1/64 pod2 fd00:2::5/64 fd00:2::1
link6 nc0 fd00:c::1/64 client fd00:c::2/64 fd00:c::1
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
for a in 203.0.113.10 203.0.113.20 203.0.113.30 203.0.113.50; do $IP -n elb addr add $a/32 dev eth0; done
$IP route add default via 192.0.2.130
echo 1 > /proc/sys/net/ipv4/ip_forward
for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done

$IP netns exec pod1 /bin/busybox httpd -p 8080 -h /www/pod1
$IP netns exec pod2 /bin/busybox httpd -p 8080 -h /www/pod2
$IP netns exec elb /bin/busybox httpd -p 80 -h /www/elb
$IP netns exec elb /bin/busybox httpd -p 81 -h /www/elb
# A listener of the node itself on a port no Service uses: KUBE-IPVS-FILTER must keep it off the
# addresses bound to kube-ipvs0.
/bin/busybox httpd -p 9999 -h /www/node
sleep 1

# The binary under test: kube-proxy itself when the initramfs has it, else the small driver that
# runs the same IpvsProxier over the same objects.
if [ -x /usr/bin/kube-proxy ]; then
  echo "KPROXY-VM-LOG syncing with kube-proxy --proxy-mode=ipvs --once"
  sync_once() { /usr/bin/kube-proxy --proxy-mode=ipvs --objects="$1" --hostname-override=node-a --once -v=2 \
                  --ipvs-tcp-timeout=901s --ipvs-tcpfin-timeout=61s --ipvs-udp-timeout=31s; }
  with_timeouts=1
  cleanup_all() { /usr/bin/kube-proxy --cleanup -v=2; }
else
  echo "KPROXY-VM-LOG syncing with ipvs_vm_driver"
  sync_once() { /usr/bin/ipvs_vm_driver --objects="$1" --node-ip=192.0.2.129 --hostname-override=node-a; }
  cleanup_all() { /usr/bin/ipvs_vm_driver --cleanup; }
fi

# --- one sync ---
sync_once /objects > /tmp/sync1 2>&1
rc=$?
sed 's/^/KPROXY-VM-LOG sync1: /' /tmp/sync1
check sync_ok "driver exit $rc" [ $rc -eq 0 ]
ipvsadm -Ln > /tmp/ipvs1; sed 's/^/KPROXY-VM-LOG ipvsadm: /' /tmp/ipvs1
$IP -o addr show dev kube-ipvs0 > /tmp/addr1; sed 's/^/KPROXY-VM-LOG addr: /' /tmp/addr1

check ipvs_clusterip_virtual_server "TCP 10.96.0.10:80 rr" grep -q "TCP  10.96.0.10:80 rr" /tmp/ipvs1
check ipvs_clusterip_real_servers "10.0.1.5:8080 and 10.0.2.5:8080 Masq" \
  sh -c 'ipvsadm -Ln -t 10.96.0.10:80 | grep -q "10.0.1.5:8080 *Masq *1" && ipvsadm -Ln -t 10.96.0.10:80 | grep -q "10.0.2.5:8080 *Masq *1"'
check ipvs_nodeport_virtual_server "TCP 192.0.2.129:30010" grep -q "TCP  192.0.2.129:30010 rr" /tmp/ipvs1
check ipvs_lb_virtual_server "TCP 203.0.113.20:80" grep -q "TCP  203.0.113.20:80 rr" /tmp/ipvs1
check ipset_cluster_ip "KUBE-CLUSTER-IP has 10.96.0.10,tcp:80" ipset test KUBE-CLUSTER-IP 10.96.0.10,tcp:80
check ipset_load_balancer "KUBE-LOAD-BALANCER has 203.0.113.20,tcp:80" ipset test KUBE-LOAD-BALANCER 203.0.113.20,tcp:80
check ipset_node_port "KUBE-NODE-PORT-TCP has 30010" ipset test KUBE-NODE-PORT-TCP 30010
check kube_ipvs0_bound "10.96.0.10 and 203.0.113.20 on kube-ipvs0" \
  sh -c 'grep -q "inet 10.96.0.10/32" /tmp/addr1 && grep -q "inet 203.0.113.20/32" /tmp/addr1'
check kube_ipvs0_node_ip_not_bound "192.0.2.129 not on kube-ipvs0" sh -c '! grep -q 192.0.2.129 /tmp/addr1'
check kube_ipvs0_is_dummy_and_down "dummy, not up" \
  sh -c '/usr/sbin/ip -d link show kube-ipvs0 | grep -q dummy && ! /usr/sbin/ip link show kube-ipvs0 | grep -q "state UP"'
check sysctl_vs_conntrack "net.ipv4.vs.conntrack=1" grep -qx 1 /proc/sys/net/ipv4/vs/conntrack
if [ -n "${with_timeouts:-}" ]; then
  ipvsadm -L --timeout > /tmp/timeouts; sed 's/^/KPROXY-VM-LOG /' /tmp/timeouts
  check ipvs_timeouts "--ipvs-tcp-timeout 901s, tcpfin 61s, udp 31s in the kernel" grep -q "901 61 31" /tmp/timeouts
fi
check iptables_ipvs_filter "KUBE-IPVS-FILTER rejects NEW to KUBE-IPVS-IPS" \
  sh -c 'iptables-legacy -S KUBE-IPVS-FILTER | grep -q "match-set KUBE-IPVS-IPS dst -j REJECT"'

check conn_clusterip_from_client "client -> 10.96.0.10:80 answered by a pod" answers client 10.96.0.10 80 'pod1|pod2'
seen=""
for i in 1 2 3 4 5 6; do seen="$seen $(fetch client 10.96.0.10 80)"; done
echo "KPROXY-VM-LOG round-robin answers:$seen"
check conn_clusterip_both_backends "6 connections reach pod1 and pod2:$seen" \
  sh -c "echo '$seen' | grep -q pod1 && echo '$seen' | grep -q pod2"
check conn_clusterip_from_pod "pod1 -> 10.96.0.10:80 answered by a pod" answers pod1 10.96.0.10 80 'pod1|pod2'
check conn_clusterip_from_node "node -> 10.96.0.10:80 answered by a pod" answers node 10.96.0.10 80 'pod1|pod2'
check conn_nodeport_from_client "client -> 192.0.2.129:30010 answered by a pod" answers client 192.0.2.129 30010 'pod1|pod2'
# Upstream's NodePorts are on every host address (not on kube-ipvs0), not only the Node's InternalIP.
check ipvs_nodeport_on_every_host_address "198.51.100.1:30010 and 10.0.1.1:30010 have virtual servers" \
  sh -c 'grep -q "TCP  198.51.100.1:30010 rr" /tmp/ipvs1 && grep -q "TCP  10.0.1.1:30010 rr" /tmp/ipvs1'
check conn_nodeport_on_client_side_address "client -> 198.51.100.1:30010 answered by a pod" answers client 198.51.100.1 30010 'pod1|pod2'
check ipvs_no_nodeport_on_kube_ipvs0 "no NodePort virtual server on a bound address" sh -c '! grep -q "10.96.0.10:30010" /tmp/ipvs1'
check conn_lb_vip_local "pod1 -> 203.0.113.20:80 short-cut on the node" answers pod1 203.0.113.20 80 'pod1|pod2'
check conn_lb_vip_from_client "client -> 203.0.113.20:80 answered by a pod" answers client 203.0.113.20 80 'pod1|pod2'
check ipvs_filter_node_listener_reachable "client -> 192.0.2.129:9999 (the node's own listener)" answers client 192.0.2.129 9999 node
check ipvs_filter_rejects_other_ports "client -> 10.96.0.10:9999 refused: a bound address serves Service ports only" \
  answers client 10.96.0.10 9999 none

# --- IPv6: ClusterIP fd00:96::10 and NodePort 30060 ---
check ipvs_ipv6_clusterip_virtual_server "TCP [fd00:96::10]:80 with both IPv6 backends" \
  sh -c 'grep -q "TCP  \[fd00:96::10\]:80 rr" /tmp/ipvs1 && ipvsadm -Ln -t "[fd00:96::10]:80" | grep -q "\[fd00:1::5\]:8080" && ipvsadm -Ln -t "[fd00:96::10]:80" | grep -q "\[fd00:2::5\]:8080"'
check ipvs_ipv6_bound "fd00:96::10 on kube-ipvs0" grep -q "inet6 fd00:96::10/128" /tmp/addr1
check ipset_ipv6_cluster_ip "KUBE-6-CLUSTER-IP has fd00:96::10,tcp:80" ipset test KUBE-6-CLUSTER-IP fd00:96::10,tcp:80
check conn_ipv6_clusterip_from_client "client -> [fd00:96::10]:80 answered by a pod" answers client fd00:96::10 80 'pod1|pod2'
check conn_ipv6_clusterip_from_pod "pod1 -> [fd00:96::10]:80 answered by a pod" answers pod1 fd00:96::10 80 'pod1|pod2'
check conn_ipv6_nodeport_from_client "client -> [fd00:c::1]:30060 answered by a pod" answers client fd00:c::1 30060 'pod1|pod2'

# --- loadBalancerSourceRanges [198.51.100.0/24] on 203.0.113.40 ---
check source_ranges_client_allowed "client (198.51.100.2) -> 203.0.113.40:80 answered by a pod" answers client 203.0.113.40 80 'pod1|pod2'
check source_ranges_pod_dropped "pod1 (10.0.1.5) -> 203.0.113.40:80 dropped" answers pod1 203.0.113.40 80 none
check source_ranges_node_dropped "node -> 203.0.113.40:80 dropped (no node address in the ranges)" answers node 203.0.113.40 80 none
check source_ranges_out_filter_rule "KUBE-IPVS-OUT-FILTER drops the node's own 203.0.113.40:80" \
  sh -c 'iptables-legacy -S KUBE-IPVS-OUT-FILTER | grep -q "203.0.113.40.*--vport 80 -j DROP"'

# --- pass-through: 203.0.113.10 belongs to the ELB only ---
check passthrough_not_bound "203.0.113.10 not on kube-ipvs0" sh -c '! grep -q 203.0.113.10 /tmp/addr1'
check passthrough_no_virtual_server "no IPVS service on 203.0.113.10" sh -c '! grep -q 203.0.113.10 /tmp/ipvs1'
check passthrough_no_ipset_entry "not in KUBE-LOAD-BALANCER / KUBE-IPVS-IPS" \
  sh -c '! ipset list KUBE-LOAD-BALANCER | grep -q 203.0.113.10 && ! ipset list KUBE-IPVS-IPS | grep -q 203.0.113.10'
check passthrough_from_pod_goes_to_elb "pod1 -> 203.0.113.10:80 answered by the ELB" answers pod1 203.0.113.10 80 elb
check passthrough_from_node_goes_to_elb "node -> 203.0.113.10:80 answered by the ELB" answers node 203.0.113.10 80 elb
check passthrough_nodeport_still_served "client -> 192.0.2.129:30011 answered by a pod" answers client 192.0.2.129 30011 'pod1|pod2'

# --- mixed ELB group (elb.id elb-mix): the oldest Service (not pass-through) decides ---
check mixed_group_conflict_reported "web/mix-new reported as overridden by web/mix-old" \
  grep -q "Service web/mix-new: ELB elb.id=elb-mix is shared with web/mix-old, which decides pass-through=false" /tmp/sync1
check mixed_group_bound "203.0.113.30 on kube-ipvs0" grep -q "inet 203.0.113.30/32" /tmp/addr1
check mixed_group_every_port_has_virtual_server "203.0.113.30:80 and :81" \
  sh -c 'grep -q "TCP  203.0.113.30:80 rr" /tmp/ipvs1 && grep -q "TCP  203.0.113.30:81 rr" /tmp/ipvs1'
check mixed_group_port80_reachable "pod1 -> 203.0.113.30:80 answered by a pod" answers pod1 203.0.113.30 80 'pod1|pod2'
check mixed_group_port81_reachable "pod1 -> 203.0.113.30:81 answered by a pod" answers pod1 203.0.113.30 81 'pod1|pod2'

# --- mixed ELB group elb-mix2: the oldest Service is pass-through and decides for every port ---
check mixed_pass_group_conflict_reported "web/mix2-new reported as overridden by web/mix2-old" \
  grep -q "Service web/mix2-new: ELB elb.id=elb-mix2 is shared with web/mix2-old, which decides pass-through=true" /tmp/sync1
check mixed_pass_group_not_bound "203.0.113.50 not on kube-ipvs0, no IPVS service" \
  sh -c '! grep -q 203.0.113.50 /tmp/addr1 && ! grep -q 203.0.113.50 /tmp/ipvs1'
check mixed_pass_group_port80_to_elb "pod1 -> 203.0.113.50:80 answered by the ELB" answers pod1 203.0.113.50 80 elb
check mixed_pass_group_port81_to_elb "pod1 -> 203.0.113.50:81 answered by the ELB" answers pod1 203.0.113.50 81 elb

# --- a second sync with nothing changed writes no IPVS operation ---
sync_once /objects > /tmp/sync2 2>&1
sed 's/^/KPROXY-VM-LOG sync2: /' /tmp/sync2
check resync_is_noop "second sync: 0 IPVS operations" grep -q "[:k] 0 IPVS operations" /tmp/sync2

# --- flip lb-local to pass-through: its address is unbound after the sync ---
mkdir -p /objects-flip && cp /objects/*.yaml /objects-flip/
sed -i 's/elb.pass-through: "false"/elb.pass-through: "true"/' /objects-flip/lb-local.yaml
sync_once /objects-flip > /tmp/sync3 2>&1
rc=$?
sed 's/^/KPROXY-VM-LOG sync3: /' /tmp/sync3
check flip_sync_ok "flip sync exit $rc" [ $rc -eq 0 ]
check flip_unbinds_address "203.0.113.20 no longer on kube-ipvs0" sh -c '! /usr/sbin/ip addr show dev kube-ipvs0 | grep -q 203.0.113.20'
check flip_removes_virtual_server "no IPVS service on 203.0.113.20" sh -c '! ipvsadm -Ln | grep -q 203.0.113.20'
check flip_goes_to_elb "pod1 -> 203.0.113.20:80 now answered by the ELB" answers pod1 203.0.113.20 80 elb
check flip_keeps_clusterip "client -> 10.96.0.10:80 still answered by a pod" answers client 10.96.0.10 80 'pod1|pod2'

# --- graceful termination: a removed TCP backend keeps serving its open connection at weight 0 ---
( sleep 60 | $IP netns exec client /bin/busybox nc 10.96.0.40 9090 >/dev/null 2>&1 ) &
holder=$!
busy=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  busy=$(ipvsadm -Ln -t 10.96.0.40:9090 | awk '$1 == "->" && $3 == "Masq" && $5 + 0 >= 1 {print $2; exit}')
  [ -n "$busy" ] && break
  sleep 0.5
done
idle=$(ipvsadm -Ln -t 10.96.0.40:9090 | awk -v b="$busy" '$1 == "->" && $3 == "Masq" && $2 != b {print $2; exit}')
echo "KPROXY-VM-LOG drain: busy=$busy idle=$idle"
check drain_connection_counted "ActiveConn of $busy is 1" [ -n "$busy" ]
mkdir -p /objects-drain && cp /objects-flip/*.yaml /objects-drain/ && cp /objects/drain.yaml.empty /objects-drain/drain.yaml
sync_once /objects-drain > /tmp/sync4 2>&1
sed 's/^/KPROXY-VM-LOG sync4: /' /tmp/sync4
ipvsadm -Ln -t 10.96.0.40:9090 > /tmp/drain1; sed 's/^/KPROXY-VM-LOG drain1: /' /tmp/drain1
check drain_first_sync_weight_zero "both backends at weight 0, none deleted yet" \
  sh -c "grep -q '$busy *Masq *0 *1' /tmp/drain1 && grep -q '$idle *Masq *0 *0' /tmp/drain1"
sync_once /objects-drain > /tmp/sync5 2>&1
sed 's/^/KPROXY-VM-LOG sync5: /' /tmp/sync5
ipvsadm -Ln -t 10.96.0.40:9090 > /tmp/drain2; sed 's/^/KPROXY-VM-LOG drain2: /' /tmp/drain2
check drain_idle_backend_deleted "$idle (no connections) deleted on the next sync" sh -c "! grep -q '$idle' /tmp/drain2"
check drain_busy_backend_kept "$busy (open connection) kept at weight 0" grep -q "$busy *Masq *0 *1" /tmp/drain2
kill $holder 2>/dev/null

# --- cleanup ---
cleanup_all > /tmp/cleanup 2>&1
rc=$?
sed 's/^/KPROXY-VM-LOG cleanup: /' /tmp/cleanup
check cleanup_ok "--cleanup exit $rc" [ $rc -eq 0 ]
check cleanup_virtual_servers "ipvsadm -Ln lists no service" sh -c '! ipvsadm -Ln | grep -Eq "^(TCP|UDP|SCTP) "'
check cleanup_link "kube-ipvs0 gone" sh -c '! /usr/sbin/ip link show kube-ipvs0'
check cleanup_ipsets "no KUBE- ipset left" sh -c '! ipset list -n | grep -q KUBE-'

echo "KPROXY-VM-DONE"
poweroff -f
