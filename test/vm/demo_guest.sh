#!/bin/sh
# /init of the IPVS demo VM (scripts/demo --mode ipvs): the seed document's ELB pass-through check
# with `kube-proxy --proxy-mode=ipvs` running as a daemon. The root namespace is the node node-a
# (192.0.2.129); network namespaces pod1 (10.244.1.2) and pod2 (10.244.1.3) run Debian's nginx with
# its stock page, and elb owns the ELB address (203.0.113.10) and runs haproxy in front of NodePort
# 192.0.2.129:30080. scripts/demo prepared everything this script reads:
#   /objects              the copy of manifests/examples/ kube-proxy is fed (--objects)
#   /demo/demo.env        the demo's addresses and limits (sourced)
#   /demo/kube-proxy.args kube-proxy's command line, one argument a line
#   /demo/steps           one step a line: "N EXPECT_RULE FILE" (FILE: the new nginx-service.yaml
#                         in /demo, "-" for none); EXPECT_RULE 1: the LB IP is bound and has an
#                         IPVS virtual server; 0: neither
#   /demo/nginx-pod*.conf, /demo/haproxy.cfg
# It prints machine-readable lines on the console, which scripts/demo parses into its table:
#   KPROXY-DEMO-LOG <text>, KPROXY-DEMO-CANNOT <why>, KPROXY-DEMO-READY,
#   KPROXY-DEMO-CURL <n> <line of curl -i output>, KPROXY-DEMO-CURLERR <n> <line of its stderr>,
#   KPROXY-DEMO-ROW <n> synced=0|1 bound=0|1 vs=0|1 before=<stot> after=<stot> curl=<exit>,
#   KPROXY-DEMO-KPLOG <line of kube-proxy's log>, KPROXY-DEMO-DONE
# then powers off. It is not part of the IPVS test suite (guest_init.sh).
LOG_PREFIX=KPROXY-DEMO-LOG
. /guest_boot.sh
IP=/usr/sbin/ip
mkdir -p /run/demo
chmod 755 / /run/demo  # the initramfs root comes as 0700; nginx's workers run as nobody
. /demo/demo.env

kp=""
finish() {
  if [ -n "$kp" ]; then
    kill "$kp" 2>/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$kp" 2>/dev/null || break; sleep 0.2; done
  fi
  [ -f /run/demo/kube-proxy.log ] && tail -n 60 /run/demo/kube-proxy.log | tr -d '\r' | sed 's/^/KPROXY-DEMO-KPLOG /'
  echo "KPROXY-DEMO-DONE"
  poweroff -f
}
cannot() {
  echo "KPROXY-DEMO-CANNOT $*"
  finish
}
now() { cut -d. -f1 /proc/uptime; }

# --- the network: pods with /32 addresses behind the node (gateway 10.244.1.1 on every node-side
# veth, as in test/kernel/netns_lab.py), the ELB's namespace on the node's default route ---
$IP link set lo up
for ns in pod1 pod2 elb; do $IP netns add $ns; $IP -n $ns link set lo up; done
i=0
for pod in pod1 pod2; do
  eval podip=\$POD_IP_$pod
  $IP link add vpod$i type veth peer name eth0 netns $pod
  $IP addr add $POD_GW/32 dev vpod$i
  $IP link set vpod$i up
  $IP -n $pod addr add $podip/32 dev eth0
  $IP -n $pod link set eth0 up
  $IP -n $pod route add $POD_GW dev eth0 scope link
  $IP -n $pod route add default via $POD_GW dev eth0
  $IP route add $podip/32 dev vpod$i
  i=$((i + 1))
done
$IP link add ne0 type veth peer name eth0 netns elb
$IP addr add $NODE_IP/25 dev ne0
$IP link set ne0 up
$IP -n elb addr add $ELB_SIDE_IP/25 dev eth0
$IP -n elb addr add $LB_IP/32 dev eth0
$IP -n elb link set eth0 up
$IP -n elb route add default via $NODE_IP
$IP route add default via $ELB_SIDE_IP
echo 1 > /proc/sys/net/ipv4/ip_forward
for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done

# --- nginx in both pods, haproxy in the ELB ---
for pod in pod1 pod2; do
  mkdir -p /run/demo/nginx-$pod-temp
  $IP netns exec $pod nginx -e /run/demo/nginx-$pod-error.log -c /demo/nginx-$pod.conf \
    </dev/null >/run/demo/nginx-$pod.log 2>&1 &
done
for pod in pod1 pod2; do
  eval podip=\$POD_IP_$pod
  t0=$(now) code=""
  while [ $(($(now) - t0)) -lt 30 ]; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://$podip/" 2>&1)
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || cannot "nginx in $pod did not answer on $podip:80 ($code): $(cat /run/demo/nginx-$pod-error.log /run/demo/nginx-$pod.log 2>/dev/null | tr '\n' ' ')"
done
$IP netns exec elb haproxy -db -f /demo/haproxy.cfg </dev/null >/run/demo/haproxy.log 2>&1 &
elb_count() {  # the ELB frontend's total sessions (stot) from haproxy's stats socket
  echo "show stat" | socat -t 2 - "UNIX-CONNECT:$HAPROXY_SOCKET" 2>/dev/null | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; sub(/^# /, "", h); if (h == "stot") c = i } }
    c && $1 == "elb" && $2 == "FRONTEND" { print $c; found = 1 }
    END { if (!found) print "?" }'
}
t0=$(now)
while [ "$(elb_count)" = "?" ] && [ $(($(now) - t0)) -lt 30 ]; do sleep 0.2; done
[ "$(elb_count)" != "?" ] || cannot "haproxy did not start in the ELB namespace: $(cat /run/demo/haproxy.log | tr '\n' ' ')"

# --- kube-proxy, as a daemon ---
set --
while read -r arg; do set -- "$@" "$arg"; done < /demo/kube-proxy.args
"$@" </dev/null >/run/demo/kube-proxy.log 2>&1 &
kp=$!
echo "KPROXY-DEMO-READY"

lb_state() {  # sets bound (LB IP on kube-ipvs0) and vs (an IPVS virtual server for it)
  bound=0 vs=0
  $IP -o addr show dev kube-ipvs0 2>/dev/null | grep -q "inet $LB_IP/" && bound=1
  ipvsadm -Ln 2>/dev/null | grep -q " $LB_IP:80 " && vs=1
}
service_changes() {  # "<service changes counted> <still pending>" from one scrape of kube-proxy's metrics
  curl -sS --max-time 1 "$METRICS_URL" 2>/dev/null | awk -v t="$SERVICE_CHANGES_METRIC" -v p="$SERVICE_CHANGES_PENDING_METRIC" '
    index($0, t) == 1 { total = $NF } index($0, p) == 1 { pending = $NF }
    END { if (total != "") print total, (pending == "" ? 0 : pending) }'
}
alive() {
  kill -0 "$kp" 2>/dev/null || cannot "kube-proxy exited while waiting for $1"
}

# The first sync: the NodePort must be in place before the ELB can reach the Pods.
t0=$(now)
until ipvsadm -Ln 2>/dev/null | grep -q "TCP  $NODE_IP:$NODE_PORT "; do
  alive "its first sync (NodePort $NODE_PORT)"
  [ $(($(now) - t0)) -lt "$SYNC_TIMEOUT" ] || cannot "no IPVS virtual server for NodePort $NODE_IP:$NODE_PORT $SYNC_TIMEOUT s after kube-proxy started"
  sleep 0.2
done
echo "KPROXY-DEMO-LOG first sync after $(($(now) - t0)) s"

while read -r n expect file <&3; do
  changed=1 before_changes="" written=$(now)
  if [ "$file" != - ]; then
    lb_state
    [ $((bound & vs)) -eq "$expect" ] && [ $((bound | vs)) -eq "$expect" ] && changed=0
    before_changes=$(service_changes)
    before_changes=${before_changes%% *}
    # Written next to the file and renamed over it: kube-proxy never reads half a file.
    cp "/demo/$file" /objects/.nginx-service.yaml.tmp
    mv /objects/.nginx-service.yaml.tmp /objects/nginx-service.yaml
    written=$(now)
  fi
  # Wait (bounded) until the running kube-proxy shows the change. When the LB IP's state does not
  # change (annotation -> ipMode: Proxy), its metrics say it has synced: the service change counted
  # and none pending any more (a sync took it); without them, give it a few seconds to get it wrong.
  synced=0
  while [ $(($(now) - written)) -lt "$SYNC_TIMEOUT" ]; do
    alive "step $n"
    lb_state
    if [ "$bound" -eq "$expect" ] && [ "$vs" -eq "$expect" ]; then
      if [ "$file" = - ] || [ "$changed" = 1 ]; then synced=1; break; fi
      c=$(service_changes)
      if [ -n "$before_changes" ] && [ -n "$c" ] &&
         awk -v a="${c%% *}" -v p="${c##* }" -v b="$before_changes" 'BEGIN { exit !(a > b && p == 0) }'; then
        synced=1; break
      fi
      if [ $(($(now) - written)) -ge "$SETTLE_WITHOUT_SIGNAL" ]; then synced=1; break; fi
    fi
    sleep 0.2
  done
  echo "KPROXY-DEMO-LOG step $n: synced=$synced $(($(now) - written)) s after the edit"
  lb_state
  before=$(elb_count)
  $IP netns exec pod1 curl -sS -i --max-time 5 "http://$LB_IP/" >/run/demo/curl.out 2>/run/demo/curl.err
  rc=$?
  sleep 0.5  # haproxy counts the session at accept; give a closing session time to land
  after=$(elb_count)
  tr -d '\r' </run/demo/curl.out | sed "s/^/KPROXY-DEMO-CURL $n /"
  tr -d '\r' </run/demo/curl.err | sed "s/^/KPROXY-DEMO-CURLERR $n /"
  echo "KPROXY-DEMO-ROW $n synced=$synced bound=$bound vs=$vs before=$before after=$after curl=$rc"
done 3< /demo/steps
finish
