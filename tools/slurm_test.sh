#!/usr/bin/env bash
# Testing on a Slurm cluster: one task per GPU, launched by srun.
#
# Usage: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#            [test.py options...]
#
# Environment variables:
#   GPUS           total number of GPUs / tasks (default: 8)
#   GPUS_PER_NODE  GPUs / tasks per node (default: 8, capped at GPUS)
#   CPUS_PER_TASK  CPU cores per task (default: 5)
#   SRUN_ARGS      extra srun options, split on whitespace (default: none)
#   PYTHON         python interpreter to use (default: python)
set -euo pipefail

if [[ $# -lt 4 ]]; then
    echo "Usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT" \
        "[test.py options...]" >&2
    echo "  env: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS" >&2
    exit 2
fi

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
read -r -a SRUN_EXTRA <<< "${SRUN_ARGS:-}"
PYTHON=${PYTHON:-python}
TOOLS_DIR=$(dirname "$0")

if [[ "$GPUS" -lt "$GPUS_PER_NODE" ]]; then
    GPUS_PER_NODE=$GPUS
fi

if ! command -v srun > /dev/null 2>&1; then
    echo "$0: 'srun' not found; this script must run on a Slurm cluster." >&2
    exit 127
fi

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_EXTRA[@]+"${SRUN_EXTRA[@]}"} \
    "$PYTHON" -u "$TOOLS_DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher slurm "${@:5}"
