#!/usr/bin/env bash
# Measures punch det in the lab (hosts a and b behind port-restricted NATs,
# DELAY on every link): the time to connect as a function of the gap
# between the two starts, REPS runs per gap with either side first; then
# RUNS runs with a random gap (0 to the run window) and a random clock
# difference (within the maximum clock error either way), either side
# first, and the share that connected. The time to connect is what each
# side reports from its start to the end of the secure handshake. Extra
# arguments go to every punch det (e.g. --max-clock-error 4s --run-window 2s;
# the defaults are 20 s and 10 s). LAB_FLAGS go to punch lab up (e.g.
# LAB_FLAGS="--input reject"). Needs root.
# REPS 0 skips the runs per gap.
# Usage: [LAB_FLAGS=...] scripts/bench-det.sh [REPS] [RUNS] [DELAY] [PUNCH_DET_FLAGS...]
set -uo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
runs=${2:-50}
delay=${3:-20ms}
shift $(($# < 3 ? $# : 3))
maxerr=20 window=10
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	--max-clock-error) maxerr=${args[i + 1]%s} ;;
	--run-window) window=${args[i + 1]%s} ;;
	esac
done
# Hold the machine-wide lab lock that lab tests take, so that no lab test
# shares the CPU with the measurement.
mkdir -p /run/punch/lab
exec 9>/run/punch/lab/.lock
flock 9
work=$(mktemp -d)
name=detb$$
trap './punch lab down $name >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o punch ./cmd/punch || exit 1
# shellcheck disable=SC2086
./punch lab up "$name" --delay "$delay" ${LAB_FLAGS:-} >/dev/null || exit 1
declare -A ip=([a]=203.0.113.10 [b]=203.0.113.18) other=([a]=b [b]=a)

# seconds DURATION: a Go duration (1.234s, 330ms) in seconds.
seconds() { awk -v d="$1" 'BEGIN { if (d ~ /ms$/) print d / 1000; else print d + 0 }'; }

# run FIRST GAP SKEW: FIRST starts, the other GAP seconds later with its
# clock SKEW seconds off; prints "ok FIRST_TIME SECOND_TIME" or "fail".
run() {
	local first=$1 gap=$2 skew=$3 second=${other[$1]}
	./punch lab exec "$name" "$first" -- ./punch det --key bench "${args[@]}" --my-ip "${ip[$first]}" "${ip[$second]}" \
		</dev/null >/dev/null 2>"$work/1" &
	local p1=$!
	sleep "$gap"
	./punch lab exec "$name" "$second" -- ./punch det --key bench "${args[@]}" --clock-offset "${skew}s" --my-ip "${ip[$second]}" "${ip[$first]}" \
		</dev/null >/dev/null 2>"$work/2" &
	local p2=$!
	wait $p1; local r1=$?
	wait $p2; local r2=$?
	if [ $r1 -ne 0 ] || [ $r2 -ne 0 ]; then
		echo "fail"
		{ echo "--- $first first, gap $gap s, skew $skew s:"; cat "$work/1" "$work/2"; } >>"$work/failures"
		return
	fi
	local t1 t2
	t1=$(sed -n 's/.*connected to .* after \([0-9.]*m\?s\)$/\1/p' "$work/1")
	t2=$(sed -n 's/.*connected to .* after \([0-9.]*m\?s\)$/\1/p' "$work/2")
	echo "ok $(seconds "$t1") $(seconds "$t2")"
}

# median: of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "punch det, two port-restricted NATs ${LAB_FLAGS:-}, $delay per link, max clock error ${maxerr}s, run window ${window}s"
gaps=$(printf "%s\n" 0 2 5 "$window" | awk -v w="$window" '$1 <= w' | sort -gu)
if [ "$reps" -gt 0 ]; then
	echo
	echo "| start gap | connected | later side: median (min-max) | earlier side: median |"
	echo "|---|---|---|---|"
else
	gaps= # REPS 0: the random series only
fi
for gap in $gaps; do
	: >"$work/times"
	ok=0
	for ((i = 0; i < reps; i++)); do
		first=$([ $((i % 2)) = 0 ] && echo a || echo b)
		read -r res t1 t2 < <(run "$first" "$gap" 0)
		if [ "$res" = ok ]; then
			ok=$((ok + 1))
			echo "$t1 $t2" >>"$work/times"
		fi
	done
	late=$(cut -d' ' -f2 "$work/times" | median)
	range=$(cut -d' ' -f2 "$work/times" | sort -g | sed -n '1p;$p' | paste -sd-)
	early=$(cut -d' ' -f1 "$work/times" | median)
	printf "| %s s | %d/%d | %.3f s (%s s) | %.3f s |\n" "$gap" "$ok" "$reps" "$late" "$range" "$early"
done

echo
ok=0
: >"$work/series"
for ((i = 0; i < runs; i++)); do
	read -r first gap skew < <(awk -v s="$RANDOM$i" -v w="$window" -v e="$maxerr" \
		'BEGIN { srand(s); printf "%s %.2f %.2f\n", (rand() < 0.5 ? "a" : "b"), rand() * w, (2 * rand() - 1) * e }')
	read -r res t1 t2 < <(run "$first" "$gap" "$skew")
	echo "$first $gap $skew $res ${t2:-}" >>"$work/series"
	[ "$res" = ok ] && ok=$((ok + 1))
done
echo "random gaps (0-${window} s) and clock differences (±${maxerr} s), either side first: $ok of $runs connected"
echo "later side's time to connect over the series: median $(awk '$4 == "ok" { print $5 }' "$work/series" | median) s"
if [ -s "$work/failures" ]; then
	echo
	echo "failures:"
	cat "$work/failures"
fi
