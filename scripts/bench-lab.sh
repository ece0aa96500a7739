#!/usr/bin/env bash
# Measures TCP throughput through the NAT lab's user-space core (iperf3
# from host a behind a port-restricted NAT to the server) and the CPU the
# core costs, for a few link delays. Needs root, iproute2, nftables and
# iperf3. Usage: scripts/bench-lab.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v iperf3 >/dev/null || { echo "needs iperf3: apt-get install iperf3" >&2; exit 1; }
go build -o punch ./cmd/punch
name=bench$$
trap './punch lab down $name >/dev/null 2>&1 || true' EXIT
hz=$(getconf CLK_TCK)
printf '%-12s %14s %12s %18s\n' "link delay" "throughput" "core CPU" "core CPU-s per GB"
for delay in 0ms 20ms; do
	./punch lab up "$name" --delay "$delay" >/dev/null
	pid=$(sed -n 's/.*"daemon": *\([0-9]*\).*/\1/p' "/run/punch/lab/$name.json")
	./punch lab exec "$name" server -- iperf3 -s -D -1 >/dev/null
	sleep 0.5
	before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	bps=$(./punch lab exec "$name" a -- iperf3 -c 198.51.100.2 -t "$secs" -J |
		sed -n '/"sum_received"/,/}/s/.*"bits_per_second":[[:space:]]*\([0-9.e+]*\).*/\1/p' | head -1)
	after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	awk -v d="$delay" -v bps="$bps" -v c=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN{
		cpu = c / hz; gb = bps / 8 * s / 1e9
		printf "%-12s %9.2f Gbit/s %11.0f%% %18.2f\n", d, bps / 1e9, 100 * cpu / s, cpu / gb }'
	./punch lab down "$name" >/dev/null
done
