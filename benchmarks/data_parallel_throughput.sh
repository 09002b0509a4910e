#!/usr/bin/env bash
# Data-parallel throughput of the VTHCL pretraining step on this machine: one process with
# all cores against `mpirun -np 2` with one thread a rank, alternated ROUNDS times (default 3)
# so both sides see the same sitting. Prints (and appends to OUT, if given) one JSON line per
# run from `bench perf pretrain-step --json`. Run it with nothing else on the machine.
#   benchmarks/data_parallel_throughput.sh [ROUNDS] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=${2:-/dev/null}
bench=${BENCH:-.build/release/bench}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo -np 2)
for _ in $(seq "$rounds"); do
    for sync in "" "--sync-batch-norm"; do
        "$bench" perf pretrain-step --json --repeats 7 $sync | grep '"figure"' | tee -a "$out"
        "${mpirun[@]}" "$bench" perf pretrain-step --json --repeats 7 $sync | grep '"figure"' | tee -a "$out"
    done
done
