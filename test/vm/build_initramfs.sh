#!/usr/bin/env bash
# Builds the IPVS VM's initramfs: static busybox, the driver binary, ipvsadm, ipset,
# iptables-legacy and iproute2 with their libraries (found by ldd), the kernel modules IPVS mode
# needs in dependency order (modprobe --show-depends), the guest script and the test objects.
#   build_initramfs.sh KERNEL_ROOT DRIVER OBJECTS_DIR GUEST_INIT OUT.cpio.gz [KUBE_PROXY [DEMO_DIR]]
# With KUBE_PROXY the guest syncs with `kube-proxy --proxy-mode=ipvs --once` instead of the driver
# (DRIVER "-": no driver). With DEMO_DIR (scripts/demo --mode ipvs) it also gets nginx, haproxy,
# curl and socat with their libraries, Debian's nginx welcome page and mime.types, and DEMO_DIR
# as /demo.
set -euo pipefail
kroot=$1 driver=$2 objects=$3 guest_init=$4 out=$5 kube_proxy=${6:-} demo=${7:-}
kver=$(ls "$kroot/lib/modules" | head -1)
stage=$(mktemp -d "${out%/*}/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,run,tmp,objects,www/pod1,www/pod2,www/elb}
mkdir -p "$stage/var" && ln -s ../run "$stage/var/run"
cp /bin/busybox "$stage/bin/busybox"
for applet in sh mount insmod sleep cat grep awk echo seq timeout nc httpd poweroff printf tr wc head sed ls mkdir; do
  ln -sf busybox "$stage/bin/$applet"
done

copy_with_libs() {  # copies a binary and the shared libraries ldd lists
  local bin=$1 dest=$2
  mkdir -p "$stage$(dirname "$dest")"
  cp -L "$bin" "$stage$dest"
  ldd "$bin" 2>/dev/null | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
    [[ -n "$lib" && -f "$lib" ]] || continue
    mkdir -p "$stage$(dirname "$lib")"
    [[ -f "$stage$lib" ]] || cp -L "$lib" "$stage$lib"
  done
}
[[ "$driver" == - ]] || copy_with_libs "$driver" /usr/bin/ipvs_vm_driver
[[ -z "$kube_proxy" ]] || copy_with_libs "$kube_proxy" /usr/bin/kube-proxy
copy_with_libs /usr/sbin/ipvsadm /usr/sbin/ipvsadm
copy_with_libs /usr/sbin/ipset /usr/sbin/ipset
copy_with_libs "$(command -v ip)" /usr/sbin/ip
copy_with_libs /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-legacy-multi
for tool in iptables-legacy iptables-legacy-restore iptables-legacy-save ip6tables-legacy ip6tables-legacy-restore ip6tables-legacy-save; do
  ln -sf xtables-legacy-multi "$stage/usr/sbin/$tool"
done
for lib in /usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_with_libs "$lib" "$lib"; done
cp /etc/protocols /etc/services "$stage/etc/" 2>/dev/null || cp /etc/protocols "$stage/etc/"
echo "root:x:0:0:root:/:/bin/sh" > "$stage/etc/passwd"
if [[ -n "$demo" ]]; then
  for tool in nginx haproxy curl socat; do copy_with_libs "$(command -v "$tool")" "/usr/bin/$tool"; done
  mkdir -p "$stage/var/www/html" "$stage/etc/nginx"
  cp /var/www/html/index.nginx-debian.html "$stage/var/www/html/"
  [[ ! -f /etc/nginx/mime.types ]] || cp /etc/nginx/mime.types "$stage/etc/nginx/"
  # nginx's workers run as nobody (no `user` directive, as on the host).
  echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/false" >> "$stage/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$stage/etc/group"
  cp -r "$demo" "$stage/demo"
fi

# Kernel modules, in load order.
mods=(ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh ip_vs_mh dummy veth nf_conntrack nf_conntrack_netlink nf_nat ip_set ip_set_hash_ip
      ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_bitmap_port xt_set
      iptable_nat iptable_filter xt_comment xt_mark xt_addrtype xt_conntrack xt_MASQUERADE ipt_REJECT
      xt_physdev xt_ipvs iptable_mangle ip6table_nat ip6table_filter ip6table_mangle ip6t_REJECT)
: > "$stage/modules.load"
for m in "${mods[@]}"; do
  modprobe -d "$kroot" -S "$kver" --show-depends "$m" | awk '$1 == "insmod"' | while read -r _ path params; do
    rel=${path#"$kroot"}
    if ! grep -q "^$rel" "$stage/modules.load"; then
      mkdir -p "$stage$(dirname "$rel")"
      cp "$path" "$stage$rel"
      echo "$rel $params" >> "$stage/modules.load"
    fi
  done
done

cp "$guest_init" "$stage/init"
chmod +x "$stage/init"
cp "$(dirname "$0")/guest_boot.sh" "$stage/guest_boot.sh"
cp -r "$objects"/. "$stage/objects/"
echo pod1 > "$stage/www/pod1/index.html"
echo pod2 > "$stage/www/pod2/index.html"
echo elb > "$stage/www/elb/index.html"
mkdir -p "$stage/www/node" && echo node > "$stage/www/node/index.html"

(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
