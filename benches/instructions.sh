#!/usr/bin/env bash
# Instructions per HTTP exchange of a catalogue scenario (default voice-journeys) against the
# ping-pong anchor, counted by callgrind: unlike wall time, the count does not move with the
# machine's neighbours, so two commits compare on any day. Needs valgrind.
#   benches/instructions.sh [SCENARIO]
#   benches/instructions.sh explore     # instructions per explored world (20 generated worlds)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-voice-journeys}"
cargo build -q --release -p bookingsim-benches --example instructions
bin=target/release/examples/instructions

# Prints "<instructions> <exchanges>" for one run, counting only inside `$1`.
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$1" \
    "$bin" "$2" >"$out" 2>&1
  echo "$(sed -n 's/.*Collected : //p' "$out" | tail -1) $(sed -n 's/^exchanges //p' "$out")"
  rm -f "$out"
}

if [ "$scenario" = explore ]; then
  out=$(mktemp)
  # The worlds run on explore's worker threads, where a toggle on `search::explore` (the
  # caller's thread) counted nothing: count each world's run (`run_in`, 95 % of a world).
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    --toggle-collect='sim::world::simulated::run_in*' "$bin" explore >"$out" 2>&1
  n=$(sed -n 's/.*Collected : //p' "$out" | tail -1)
  rm -f "$out"
  awk -v n="$n" 'BEGIN { printf "explore         %13.0f instructions in 20 worlds (runs): %12.0f per world\n", n, n / 20 }'
  exit 0
fi

read -r anchor anchor_n < <(count 'bookingsim_benches::pingpong' pingpong)
read -r run run_n < <(count 'sim::run_with_progress' "$scenario")
awk -v a="$anchor" -v an="$anchor_n" -v r="$run" -v rn="$run_n" -v s="$scenario" 'BEGIN {
  printf "ping-pong       %13.0f instructions, %6d exchanges: %8.0f per exchange\n", a, an, a / an
  printf "%-15s %13.0f instructions, %6d exchanges: %8.0f per exchange, %.2fx the ping-pong\n",
    s, r, rn, r / rn, (r / rn) / (a / an)
}'
