#!/usr/bin/env bash
# Compares punch udp with udphp.py (seed 002) on the same lab path: a
# file of SIZE bytes pushed through a TCP forward, from host a to a service
# on host b, behind two port-restricted NATs. udphp.py is extracted from
# the seed document given as the first argument (it is not part of this
# repository). Needs root, python3 and ncat.
# Usage: scripts/bench-udphp.sh SEED_002_FILE [SIZE] [DELAY_PER_LINK]
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:?usage: scripts/bench-udphp.sh SEED_002_FILE [SIZE]}
size=${2:-2000000}
delay=${3:-0ms}
work=$(mktemp -d)
name=udphp$$
trap './punch lab down $name >/dev/null 2>&1 || true; rm -rf $work' EXIT
sed -n '/^#!\/usr\/bin\/env python3/,/^UDPReceive_Thread/p' "$seed" > "$work/udphp.py"
head -c "$size" /dev/urandom > "$work/file"
go build -o punch ./cmd/punch
./punch lab up "$name" --delay "$delay" >/dev/null
./punch lab exec "$name" server -- ./punch server --ip 198.51.100.2 2>/dev/null &

# run TOOL: forward a:7000 -> b:7001 (a sink that writes what it gets to
# $work/out), push the file, and print the seconds it took.
run() {
	rm -f "$work/out"
	# A sink that never sends or half-closes: udphp.py ends at the first
	# EOF it reads from its TCP side.
	./punch lab exec "$name" b -- python3 -c '
import socket, sys
l = socket.create_server(("127.0.0.1", 7001)); c, _ = l.accept()
with open(sys.argv[1], "wb") as f:
    while (b := c.recv(65536)): f.write(b)' "$work/out" &
	local sink=$!
	case $1 in
	udphp)
		./punch lab exec "$name" b -- python3 "$work/udphp.py" -c 7001 203.0.113.10 5555 2>/dev/null &
		sleep 0.3
		./punch lab exec "$name" a -- python3 "$work/udphp.py" -l 7000 203.0.113.18 5555 2>/dev/null &
		;;
	punch)
		./punch lab exec "$name" b -- ./punch udp -4 --key bench -c 7001 203.0.113.10 2>/dev/null &
		./punch lab exec "$name" a -- ./punch udp -4 --key bench -l 7000 203.0.113.18 2>/dev/null &
		;;
	esac
	sleep 1
	local start end
	start=$(date +%s.%N)
	./punch lab exec "$name" a -- ncat --send-only 127.0.0.1 7000 < "$work/file" &
	# Done when the whole file is at the sink (udphp.py itself only exits
	# minutes later, when its heartbeats time out).
	until [ "$(stat -c %s "$work/out" 2>/dev/null || echo 0)" -ge "$size" ]; do sleep 0.01; done
	end=$(date +%s.%N)
	kill $sink 2>/dev/null || true
	pkill -f "$work/udphp.py" || true
	pkill -f 'punch udp -4 --key bench' || true
	cmp -s "$work/file" "$work/out" || { echo "$1: the file arrived damaged ($(stat -c %s "$work/out") of $size bytes)" >&2; exit 1; }
	awk -v s="$start" -v e="$end" -v n="$size" -v t="$1" 'BEGIN{printf "%-6s %8.2f s %10.3f MB/s\n", t, e-s, n/(e-s)/1e6}'
}
printf "%s bytes through a TCP forward, two port-restricted NATs, %s per link\n" "$size" "$delay"
run udphp
run punch
