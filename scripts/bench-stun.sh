#!/usr/bin/env bash
# Measures STUN Binding answers per second, and the server CPU each answer
# costs, of punch server and coturn's turnserver side by side on loopback,
# with the same load generator (punch bench stun), alternating the servers
# ROUNDS times. Usage: scripts/bench-stun.sh [DURATION] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
rounds=${2:-2}
command -v turnserver >/dev/null || { echo "needs coturn: apt-get install coturn" >&2; exit 1; }
go build -o punch ./cmd/punch

./punch server --ip 127.0.0.1 --no-tcp 2>/dev/null & ppid=$!
turnserver --stun-only -n --no-cli --no-tls --no-dtls --listening-port 5478 -L 127.0.0.1 \
	--log-file /dev/null >/dev/null 2>&1 & tpid=$!
trap 'kill $ppid $tpid 2>/dev/null' EXIT
sleep 1

# cpu PID prints the CPU time (user+system) of a process in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

printf '%-14s %10s %14s %18s\n' server answered/s "server CPU %" "answers/CPU-second"
for _ in $(seq "$rounds"); do
	for s in "punch:$ppid:3478" "coturn:$tpid:5478"; do
		IFS=: read -r name pid port <<<"$s"
		before=$(cpu "$pid")
		out=$(./punch bench stun --duration "$duration" "127.0.0.1:$port" | tail -1)
		after=$(cpu "$pid")
		rate=$(awk '{print $4}' <<<"$out")
		answered=$(awk '{print $3}' <<<"$out")
		secs=$(awk -v d="$duration" 'BEGIN{sub(/s$/,"",d); print d}')
		awk -v n="$name" -v r="$rate" -v a="$answered" -v c=$((after - before)) -v hz="$hz" -v s="$secs" \
			'BEGIN{cs=c/hz; printf "%-14s %10d %13.0f%% %18.0f\n", n, r, 100*cs/s, (cs>0 ? a/cs : 0)}'
	done
done
