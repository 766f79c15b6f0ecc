#!/usr/bin/env bash
# The whole suite, as `make test` runs it. The image's VM module boots the image under tcg: about ten minutes of
# one core spent mostly inside the emulated machine, with waits long enough for a loaded host. It runs beside the
# rest of the suite, niced so the telephony tests keep the CPU they need, and the wall time is the longer of the
# two runs instead of their sum. Both runs' reports are printed; the suite fails if either does.
set -u
venv=${1:?usage: run_suite.sh VENV}
vm_module=tests/image/test_image_vm.py
vm_log=$(mktemp)
trap 'rm -f "$vm_log"' EXIT

nice -n 10 "$venv/bin/pytest" -q -p no:cacheprovider --durations=10 "$vm_module" >"$vm_log" 2>&1 &
vm_pid=$!

"$venv/bin/pytest" -q -p no:cacheprovider --durations=40 --ignore="$vm_module"
rest=$?

wait "$vm_pid"
vm=$?
echo
echo "=============================== $vm_module ==============================="
cat "$vm_log"
echo "the rest of the suite: exit $rest; the VM module: exit $vm"
[ "$rest" -eq 0 ] && [ "$vm" -eq 0 ]
