cd /work/wt/i5bench
for rep in 1 2 3; do
  for v in main-runtime bounded-starts; do
    CHATSTACK_BIN=/work/target-i5bench/chatstack-$v OUT=/tmp/i5ab LABEL_SUFFIX="@$v" STAGES="load" STACKS="fanout" NS="10 50" REPS=1 DEADLINE=120 timeout 600 benches/chat/run.sh
  done
done
for v in main-runtime bounded-starts; do
  CHATSTACK_BIN=/work/target-i5bench/chatstack-$v OUT=/tmp/i5ab LABEL_SUFFIX="@$v" STAGES="rtt" STACKS="fanout" REPS=1 timeout 600 benches/chat/run.sh
done
for v in main-runtime bounded-starts; do
  CHATSTACK_BIN=/work/target-i5bench/chatstack-$v OUT=/tmp/i5ab LABEL_SUFFIX="@$v" STAGES="load" STACKS="fanout seed" NS="200" REPS=1 DEADLINE=60 timeout 600 benches/chat/run.sh
done
CHATSTACK_BIN=/work/target-i5bench/chatstack-bounded-starts OUT=/tmp/i5ab LABEL_SUFFIX="@bounded-starts" STAGES="load" STACKS="fanout" NS="1000" REPS=1 DEADLINE=60 timeout 600 benches/chat/run.sh
CHATSTACK_BIN=/work/target-i5bench/chatstack-bounded-starts OUT=/tmp/i5ab LABEL_SUFFIX="@bounded-starts" STAGES="idle" STACKS="fanout" timeout 900 benches/chat/run.sh
echo ALLDONE
