#!/bin/bash
# Run the RNN chapter's registered experiments at the full profile on a GPU; copy results to $OUT.
set -u
nvidia-smi --query-gpu=name --format=csv,noheader
python -c "import torch,sys; print(sys.version, torch.__version__)"
for e in rnn_loop_vs_fused rnn_row_mnist rnn_char rnn_adding; do
  /usr/bin/time -f "$e %e s" timeout ${PER:-150} python -m lessons_lib.reproduce $e --profile full 2>&1 | grep -v "^\[.*seed=0 \.\.\." | cut -c1-3000
  cp results/$e.json "${OUT:-/tmp}/" 2>/dev/null
done
