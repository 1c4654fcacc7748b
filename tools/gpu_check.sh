#!/usr/bin/env bash
# The GPU session: GPU-only tests, the benchmarks, and every full-profile experiment.
# Run from the repository root on a machine with one CUDA GPU, with MNIST in .data/:
#   bash tools/gpu_check.sh [STEPS]      (STEPS: any of tests bench repro; default all)
# Logs and a tarball of results/ go to $OUT (or ./gpu_out when OUT is unset).
# Env: REPRO_NAMES (default --all), JOBS (default 6), REPRO_SECONDS (default 420).
# Without a GPU, tests/test_benchmarks.py starts each benchmark on the CPU at a tiny size, so a
# broken script is found before the GPU session, not during it.
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" LESSONS_DATA="$PWD/.data" XDG_CACHE_HOME="$PWD/.cache"
steps=${1:-"tests bench repro"}
# .git does not travel to the GPU machine: run `git rev-parse HEAD > .commit` here first (and
# carry .commit) so that every result records the commit it came from.
[ -f .commit ] && export LESSONS_COMMIT="$(cat .commit)"
step() {  # step NAME SECONDS COMMAND...
  local name=$1 secs=$2; shift 2
  echo "== $name (limit ${secs}s): $*" | tee -a "$OUT/summary.log"
  local t0=$(date +%s)
  timeout "$secs" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc in $(( $(date +%s) - t0 ))s" | tee -a "$OUT/summary.log"
  tail -n 25 "$OUT/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/summary.log"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/summary.log"
case "$steps" in *tests*) step gpu_tests 120 python3 -m pytest tests/test_gpu.py -q -p no:cacheprovider -x ;; esac
case "$steps" in *bench*)
  step lenet_epoch 150 python3 benchmarks/lenet_epoch.py --device cuda --epochs 2 --graph
  step lenet_full 240 python3 benchmarks/lenet_full.py --probe-epochs 2 --seeds 3
  [ -f benchmarks/alexnet_throughput.py ] && step alexnet_throughput 120 python3 benchmarks/alexnet_throughput.py
  ;; esac
case "$steps" in *repro*)
  step reproduce "${REPRO_SECONDS:-420}" python3 -m lessons_lib.reproduce ${REPRO_NAMES:---all} --profile full --jobs "${JOBS:-6}" --keep-going
  ;; esac
tar czf "$OUT/results.tgz" results/*.json 2>/dev/null
ls -la "$OUT"
