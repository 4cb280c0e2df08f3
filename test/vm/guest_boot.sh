# Sourced first by every /init of the VM (guest_init.sh, demo_guest.sh, bench/ipvs_vm_bench_guest.sh):
# busybox applets, /proc, /sys, /dev, /run, and the kernel modules in build_initramfs.sh's order.
# Set LOG_PREFIX (e.g. KPROXY-VM-LOG) before sourcing: the host parses the console by it.
export PATH=/bin:/usr/sbin:/usr/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs run /run
mkdir -p /run/netns /run/xtables /tmp
while read -r mod params; do
  insmod "$mod" $params 2>/dev/null || echo "$LOG_PREFIX insmod $mod failed"
done < /modules.load
