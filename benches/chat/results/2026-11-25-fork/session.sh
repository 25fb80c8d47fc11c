#!/usr/bin/env bash
# The session behind BENCHMARKS.md's table C, run from the repository root:
#   chatstack-before = commit 1b3e498 (fresh interpreter per worker, no TCP_NODELAY)
#   chatstack-after  = this commit (fork server, TCP_NODELAY, pool sizing)
# Both built with `cargo build --release`, copied to $BINS. The two alternate run by run.
set -uo pipefail
BINS=${BINS:-/work/target-bench}
OUT=${OUT:-/tmp/fork-session}
run() { # run before|after <run.sh env...>
  local v=$1; shift
  env CHATSTACK_BIN="$BINS/chatstack-$v" OUT="$OUT" LABEL_SUFFIX="@$v" "$@" timeout 2400 benches/chat/run.sh
}
for rep in 1 2 3; do
  for v in before after; do run $v STAGES=load STACKS=fanout NS="10 50" REPS=1 DEADLINE=120; done
done
for v in before after; do run $v STAGES=rtt STACKS=fanout REPS=3; done
for v in before after; do run $v STAGES=load STACKS=fanout NS=200 REPS=1 DEADLINE=120; done
run before STAGES=load STACKS=fanout NS=1000 REPS=1 DEADLINE=60
run after STAGES=load STACKS=fanout NS=1000 REPS=1 DEADLINE=60
run after STAGES=load STACKS=seed NS="10 50" REPS=3 DEADLINE=120
run after STAGES=load STACKS=seed NS=200 REPS=1 DEADLINE=60
run after STAGES=peers PEER_NS="50 200" PEER_REPS=3 LONG_REPS=1 DEADLINE=120
run after STAGES=idle
# Last, the long one: N = 1000 × 20 to completion (about 13 min at ~26k deliveries/s).
run after STAGES=load STACKS=fanout NS=1000 REPS=1 DEADLINE=1500
echo ALLDONE
