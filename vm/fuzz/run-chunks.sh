#!/usr/bin/env bash
# Runs the `ops` target in chunks of one single-worker libFuzzer job each, then prints the
# totals. Usage (from anywhere): vm/fuzz/run-chunks.sh CHUNKS SECONDS_PER_CHUNK
#
# The working corpus grows in vm/fuzz/work/ops (not committed; the saved corpus/ops is read
# as a second corpus), each chunk's log lands in vm/fuzz/work/logs/, crashes in artifacts/ops.
set -euo pipefail
cd "$(dirname "$0")"
chunks=${1:-1}
seconds=${2:-600}
mkdir -p work/ops work/logs
cargo fuzz build --fuzz-dir . -O -s none --no-trace-compares ops
for i in $(seq 1 "$chunks"); do
  log=work/logs/chunk-$(date +%Y%m%d-%H%M%S).log
  status=0
  cargo fuzz run --fuzz-dir . -O -s none --no-trace-compares ops work/ops corpus/ops -- \
    -jobs=1 -workers=1 -max_total_time="$seconds" -max_len=512 -print_final_stats=1 \
    >"$log.driver" 2>&1 || status=$?
  # With -jobs, libFuzzer writes the job's own output to fuzz-0.log in the working directory.
  mv fuzz-0.log "$log"
  grep -E "^INFO: Seed|^Done|stat::number_of_executed_units|^#[0-9]+.*DONE" "$log" || true
  if [ "$status" -ne 0 ] || grep -q "panicked\|deadly signal" "$log"; then
    echo "chunk $i: failure, see $log and artifacts/ops/" >&2
    exit 1
  fi
done
awk '/stat::number_of_executed_units/ { runs += $2; n++ } END { printf "%d chunks, %d executions\n", n, runs }' work/logs/chunk-*.log
