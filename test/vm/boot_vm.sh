#!/usr/bin/env bash
# Boots the IPVS VM once: Debian's cloud kernel under qemu TCG (KVM does not work on these hosts)
# with an initramfs whose /init does the work and powers off. The guest's serial console is this
# script's stdout. Used by run_ipvs_vm.sh (the test suite), scripts/demo --mode ipvs and
# bench/ipvs_vm_bench.sh. KPROXY_VM_MEMORY_MB: guest memory (default 512; the scale bench needs more).
#   boot_vm.sh KERNEL_ROOT INITRAMFS TIMEOUT_S
# exec: the caller's PID is `timeout`'s, which stops qemu when it is signalled.
set -euo pipefail
kroot=$1 initramfs=$2 timeout_s=$3
kver=$(ls "$kroot/lib/modules" | head -1)
# no_timer_check: on a loaded host TCG can miss the early IO-APIC timer check and panic.
exec timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m "${KPROXY_VM_MEMORY_MB:-512}" -smp 1 -nodefaults \
  -no-user-config -nographic -serial stdio -monitor none -no-reboot \
  -kernel "$kroot/boot/vmlinuz-$kver" -initrd "$initramfs" \
  -append "console=ttyS0 panic=1 quiet loglevel=3 no_timer_check rdinit=/init" </dev/null
