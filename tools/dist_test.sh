#!/usr/bin/env bash
# Distributed testing on one machine (or on each node of a multi-node job)
# through torchrun (`python -m torch.distributed.run`).
#
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
#
# Environment variables:
#   NNODES       number of nodes (default: 1)
#   NODE_RANK    rank of this node (default: 0)
#   MASTER_ADDR  address of the rank-0 node (default: 127.0.0.1)
#   PORT         master port (default: a free port picked at launch time on
#                a single node; 29500 when NNODES > 1, because every node
#                must then agree on it)
#   PYTHON       python interpreter to use (default: python)
set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "Usage: bash $0 CONFIG CHECKPOINT GPUS [test.py options...]" >&2
    echo "  e.g. bash $0 configs/xxx.py work_dirs/xxx/epoch_1.pth 4" >&2
    exit 2
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
TOOLS_DIR=$(dirname "$0")

if [[ -z "${PORT:-}" ]]; then
    if [[ "$NNODES" -gt 1 ]]; then
        PORT=29500
    else
        # Ask the OS for a currently free port so that several jobs can run
        # side by side without clashing on a fixed default.
        PORT=$("$PYTHON" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("", 0))
print(s.getsockname()[1])
s.close()')
    fi
fi

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS_DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
