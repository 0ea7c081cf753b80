#!/usr/bin/env bash
# The command-line session of seed 004, replayed against `samsa serve`:
# create topic `test` with 3 partitions, produce, consume from the
# beginning with and without a group, list and describe the group, reset
# it to the earliest offsets, then partition 1 to offset 10. Each output is
# checked with grep; any mismatch fails the script (exit status 1).
set -euo pipefail

cd "$(dirname "$0")/.."

work=$(mktemp -d)
broker_pid=
cleanup() {
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "seed004: FAIL: $*" >&2
	if [ -f "$work/serve.log" ]; then
		echo "---- samsa serve log (last 50 lines) ----" >&2
		tail -n 50 "$work/serve.log" >&2
	fi
	exit 1
}

# expect FILE REGEX DESCRIPTION: FILE must have a line matching REGEX.
expect() {
	grep -Eq -- "$2" "$1" || { echo "---- $1 ----" >&2; cat "$1" >&2; fail "$3"; }
}

# A free loopback port, from the kernel.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

go build -o "$work/samsa" ./cmd/samsa
samsa="$work/samsa"

port=$(free_port)
export SAMSA_BOOTSTRAP="127.0.0.1:$port"
"$samsa" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$work/data" >"$work/serve.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 300); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		break
	fi
	kill -0 "$broker_pid" 2>/dev/null || fail "samsa serve exited before listening"
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "samsa serve is not listening on $port after 30s"

# kafka-topics --create / --list / --describe
"$samsa" topics --create --bootstrap-server "127.0.0.1:$port" --topic test --partitions 3 --replication-factor 1 >"$work/out" || fail "topics --create"
expect "$work/out" '^Created topic test\.$' "topics --create output"
"$samsa" topics --list >"$work/out" || fail "topics --list"
expect "$work/out" '^test$' "topics --list lacks test"
"$samsa" topics --describe --topic test >"$work/out" || fail "topics --describe"
expect "$work/out" $'^Topic: test\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\tReplicationFactor: 1\t' "topics --describe summary line"
expect "$work/out" $'^\tTopic: test\tPartition: 1\tLeader: [0-9]+\tReplicas: [0-9]+\tIsr: [0-9]+$' "topics --describe partition line"

# kafka-console-producer: 90 keyed lines, spread over the partitions by key.
for i in $(seq 1 90); do echo "key$i:message $i"; done >"$work/in"
"$samsa" produce --topic test --property parse.key=true --property key.separator=: <"$work/in" || fail "produce"

# kafka-console-consumer --from-beginning, without a group, then with one.
"$samsa" consume --topic test --from-beginning --max-messages 90 --timeout-ms 15000 >"$work/out" 2>"$work/err" || fail "consume --from-beginning"
[ "$(wc -l <"$work/out")" -eq 90 ] || fail "consume --from-beginning printed $(wc -l <"$work/out") lines, want 90"
expect "$work/err" '^Processed a total of 90 messages$' "consume's final count"
"$samsa" consume --topic test --group seed-group --from-beginning --max-messages 90 --timeout-ms 15000 \
	--property print.key=true >"$work/out" 2>"$work/err" || fail "consume --group"
[ "$(wc -l <"$work/out")" -eq 90 ] || fail "consume --group printed $(wc -l <"$work/out") lines, want 90"
expect "$work/out" $'^key7\tmessage 7$' "consume --group print.key output"

# kafka-consumer-groups --list / --describe: everything read, lag 0.
"$samsa" groups --list >"$work/out" || fail "groups --list"
expect "$work/out" '^seed-group$' "groups --list lacks seed-group"
"$samsa" groups --describe --group seed-group >"$work/out" || fail "groups --describe"
expect "$work/out" '^GROUP +TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +CONSUMER-ID +HOST +CLIENT-ID$' "groups --describe header"
for p in 0 1 2; do
	expect "$work/out" "^seed-group +test +$p +([0-9]+) +\\1 +0 +- +- +-\$" "groups --describe: partition $p not fully consumed"
done
end1=$(awk '$1 == "seed-group" && $2 == "test" && $3 == 1 { print $5 }' "$work/out")
[ "${end1:-0}" -gt 10 ] || fail "partition 1 has ${end1:-0} records; the reset to offset 10 needs more"

# A dry run (the default) changes nothing.
"$samsa" groups --reset-offsets --group seed-group --topic test --to-earliest >"$work/out" 2>/dev/null || fail "reset --to-earliest dry run"
expect "$work/out" '^seed-group +test +0 +0 *$' "reset dry run plan"
"$samsa" groups --describe --group seed-group >"$work/out" || fail "groups --describe"
expect "$work/out" "^seed-group +test +1 +$end1 +$end1 +0 " "the dry run changed the offsets"

# --reset-offsets --to-earliest --execute
"$samsa" groups --reset-offsets --group seed-group --topic test --to-earliest --execute >"$work/out" || fail "reset --to-earliest"
expect "$work/out" '^GROUP +TOPIC +PARTITION +NEW-OFFSET *$' "reset plan header"
for p in 0 1 2; do
	expect "$work/out" "^seed-group +test +$p +0 *\$" "reset --to-earliest: partition $p"
done
"$samsa" groups --describe --group seed-group >"$work/out" || fail "groups --describe"
expect "$work/out" "^seed-group +test +1 +0 +$end1 +$end1 " "after --to-earliest: partition 1"

# --reset-offsets of partition 1 to offset 10
"$samsa" groups --reset-offsets --group seed-group --topic test:1 --to-offset 10 --execute >"$work/out" || fail "reset --to-offset 10"
expect "$work/out" '^seed-group +test +1 +10 *$' "reset --to-offset 10 plan"
grep -Eq '^seed-group +test +[02] ' "$work/out" && fail "reset of test:1 touched other partitions"
"$samsa" groups --describe --group seed-group >"$work/out" || fail "groups --describe"
expect "$work/out" "^seed-group +test +1 +10 +$end1 +$((end1 - 10)) " "after --to-offset 10: partition 1"
expect "$work/out" "^seed-group +test +0 +0 " "after --to-offset 10: partition 0 still at 0"

# The group's next consumer starts partition 1 at offset 10 and the
# others at 0: 80 records in all.
"$samsa" consume --topic test --group seed-group --max-messages 80 --timeout-ms 15000 \
	--property print.partition=true --property print.offset=true >"$work/out" 2>/dev/null || fail "consume after the reset"
[ "$(wc -l <"$work/out")" -eq 80 ] || fail "consume after the reset printed $(wc -l <"$work/out") lines, want 80"
expect "$work/out" $'^Partition:1\tOffset:10\t' "consume after the reset: partition 1 does not start at 10"
grep -Eq $'^Partition:1\tOffset:[0-9]\t' "$work/out" && fail "consume after the reset read partition 1 below offset 10"

# Ctrl-C ends a group's console consumer cleanly, committing what it printed.
"$samsa" consume --topic test --group sigint-group --from-beginning >"$work/out" 2>"$work/err" &
consumer_pid=$!
for _ in $(seq 1 300); do
	[ "$(wc -l <"$work/out")" -ge 90 ] && break
	sleep 0.1
done
kill -INT "$consumer_pid"
wait "$consumer_pid" || fail "consume exited with status $? on SIGINT"
expect "$work/err" '^Processed a total of 90 messages$' "consume's count after SIGINT"
"$samsa" groups --describe --group sigint-group >"$work/out" || fail "groups --describe"
for p in 0 1 2; do
	expect "$work/out" "^sigint-group +test +$p +([0-9]+) +\\1 +0 " "after SIGINT: partition $p not committed"
done

kill -TERM "$broker_pid"
wait "$broker_pid" || fail "samsa serve exited with status $? after SIGTERM"
broker_pid=
echo "seed004: ok"
