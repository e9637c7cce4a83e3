#!/usr/bin/env bash
# Builds Quorate's replication benchmark and the openraft peer benchmark in
# release mode, runs them one after the other with the same client counts,
# duration and runtime sizes, and prints one table with both.
#
# Each (implementation, client count, run) is its own process, so the peak
# RSS column (VmHWM) belongs to that row alone. The two implementations
# alternate at every client count, so a slow patch of the machine hurts both.
#
# Usage: examples/peers/compare.sh [--clients 1,16,64,256,1024] [--seconds 5]
#          [--warmup-seconds 1] [--server-workers 2] [--client-workers 2]
#          [--runs 1] [--csv FILE]
#          [--quorate-args "..."] [--openraft-args "..."]
# The last two pass extra flags to one side only (they come after the shared
# ones, so they override them), e.g. --openraft-args "--server-workers 16"
# to run openraft with its own benchmark's default runtime size, or
# --quorate-args "--client-workers 0" to run Quorate's clients on the
# nodes' runtime.
#
# Every row also runs Quorate's harness against its echo target (a task
# that answers each submission at once: no replication, no state machine)
# with the Quorate flags: the "echo/s" column is the most any in-process
# implementation could do with that harness and runtime shape here.
set -euo pipefail

clients="1,16,64,256,1024"
duration_s=5
warmup_s=1
server_workers=2
client_workers=2
runs=1
csv_out=""
quorate_args=""
openraft_args=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --clients) clients="$2"; shift 2 ;;
        --seconds) duration_s="$2"; shift 2 ;;
        --warmup-seconds) warmup_s="$2"; shift 2 ;;
        --server-workers) server_workers="$2"; shift 2 ;;
        --client-workers) client_workers="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --csv) csv_out="$2"; shift 2 ;;
        --quorate-args) quorate_args="$2"; shift 2 ;;
        --openraft-args) openraft_args="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
peer="$root/examples/peers/openraft"

echo "building (release)..." >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example bench_replication
cargo build --release --quiet --locked --manifest-path "$peer/Cargo.toml"

target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
quorate_bin="$target_dir/release/examples/bench_replication"
openraft_bin="$peer/target/release/openraft-peer-bench"

common=(--seconds "$duration_s" --warmup-seconds "$warmup_s"
        --server-workers "$server_workers" --client-workers "$client_workers"
        --csv --no-header)

rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" >&2
echo "clients=$clients seconds=$duration_s warmup=$warmup_s server_workers=$server_workers client_workers=$client_workers runs=$runs" >&2
echo "quorate extra: ${quorate_args:-none}; openraft extra: ${openraft_args:-none}" >&2
for n in ${clients//,/ }; do
    for ((run = 1; run <= runs; run++)); do
        echo "  $n clients, run $run: quorate" >&2
        # shellcheck disable=SC2086 # the extra flags are meant to split into words
        "$quorate_bin" --clients "$n" "${common[@]}" $quorate_args | sed "s/\$/,$run/" >>"$rows"
        echo "  $n clients, run $run: openraft" >&2
        # shellcheck disable=SC2086
        "$openraft_bin" --clients "$n" "${common[@]}" $openraft_args | sed "s/\$/,$run/" >>"$rows"
        echo "  $n clients, run $run: echo ceiling" >&2
        # shellcheck disable=SC2086
        "$quorate_bin" --clients "$n" "${common[@]}" $quorate_args --target echo | sed "s/\$/,$run/" >>"$rows"
    done
done

if [[ -n "$csv_out" ]]; then
    {
        echo "impl,clients,ops,window_s,ops_per_s,p50_us,p99_us,p999_us,max_us,rss_peak_kib,run"
        cat "$rows"
    } >"$csv_out"
fi

# One line per (clients, run): both implementations and the throughput ratio.
awk -F, '
    { key = $2 "," $11; seen[key] = 1; order[key] = $2 * 1000 + $11
      ops[$1, key] = $5; p50[$1, key] = $6; p99[$1, key] = $7; p999[$1, key] = $8
      rss[$1, key] = $10 / 1024 }
    END {
        printf "%7s %3s | %10s %9s %9s %9s %7s | %10s %9s %9s %9s %7s | %6s | %10s\n",
            "clients", "run", "quorate/s", "p50 us", "p99 us", "p999 us", "RSS MiB",
            "openraft/s", "p50 us", "p99 us", "p999 us", "RSS MiB", "ratio", "echo/s"
        n = 0
        for (k in seen) keys[++n] = k
        for (i = 2; i <= n; i++) {            # insertion sort by (clients, run)
            k = keys[i]; j = i - 1
            while (j > 0 && order[keys[j]] > order[k]) { keys[j + 1] = keys[j]; j-- }
            keys[j + 1] = k
        }
        for (i = 1; i <= n; i++) {
            k = keys[i]; split(k, part, ",")
            ratio = ops["openraft", k] > 0 ? ops["quorate", k] / ops["openraft", k] : 0
            printf "%7s %3s | %10.0f %9.1f %9.1f %9.1f %7.1f | %10.0f %9.1f %9.1f %9.1f %7.1f | %5.2fx | %10.0f\n",
                part[1], part[2],
                ops["quorate", k], p50["quorate", k], p99["quorate", k], p999["quorate", k], rss["quorate", k],
                ops["openraft", k], p50["openraft", k], p99["openraft", k], p999["openraft", k], rss["openraft", k],
                ratio, ops["echo", k]
        }
    }' "$rows"
