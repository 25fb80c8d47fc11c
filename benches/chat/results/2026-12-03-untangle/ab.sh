#!/usr/bin/env bash
# Issue 10's before/after: the fan-out stack at N = 50, two release builds alternated in one
# session (ROUNDS rounds of one run each), so both see the same machine.
#   BEFORE=path/to/chatstack AFTER=path/to/chatstack OUT=/tmp/i10-ab benches/chat/results/2026-12-03-untangle/ab.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
: "${BEFORE:?the before binary}" "${AFTER:?the after binary}"
OUT=${OUT:-/tmp/i10-ab}
for round in $(seq "${ROUNDS:-3}"); do
    for side in before after; do
        bin=$BEFORE
        [ "$side" = after ] && bin=$AFTER
        echo "== round $round: $side"
        CHATSTACK_BIN=$bin LABEL_SUFFIX=@$side STAGES=load STACKS=fanout NS=50 REPS=1 \
            DEADLINE=120 OUT=$OUT benches/chat/run.sh
    done
done
python3 benches/chat/summarize.py "$OUT"
