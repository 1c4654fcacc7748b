#!/bin/bash
# Run the RNN chapter's registered experiments at the full profile on a GPU; copy results to $OUT.
# Each experiment gets its own time limit (seconds, estimates; override with e.g. T_rnn_adding=300),
# together under the device tool's 600 s per command. rnn_adding is the longest (12 runs, T up to 400).
set -u
nvidia-smi --query-gpu=name --format=csv,noheader
python -c "import torch,sys; print(sys.version, torch.__version__, torch.cuda.is_available())"
declare -A LIMIT=([rnn_loop_vs_fused]=60 [rnn_row_mnist]=120 [rnn_char]=120 [rnn_adding]=240)
for e in rnn_loop_vs_fused rnn_row_mnist rnn_char rnn_adding; do
  var="T_$e"; limit="${!var:-${LIMIT[$e]}}"
  /usr/bin/time -f "$e %e s (limit $limit s)" timeout "$limit" python -m lessons_lib.reproduce $e --profile full 2>&1 \
    | grep -v "^\[.*seed=0 \.\.\." | cut -c1-3000
  cp results/$e.json "${OUT:-/tmp}/" 2>/dev/null || echo "$e: no result (failed or over its limit)"
done
