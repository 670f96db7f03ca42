#!/usr/bin/env bash
# Run the five benchmarks for real, one after another (about 15-25 minutes on a 2-core machine), appending
# each result to bench/results.jsonl. Run it from anywhere, on an otherwise idle machine:
#
#     PYTHON=/work/venv/bin/python bash bench/run_all.sh            # the real run
#     PYTHON=/work/venv/bin/python bash bench/run_all.sh --quick    # smoke test of all five (not recorded)
#
# Any arguments are passed to every script (--quick, --rounds N, --model M.onnx, --results FILE, --no-record,
# --workdir DIR). Each script's JSON document also goes to bench/logs/<time>-<name>.json and its stderr
# (progress and the readable table) to bench/logs/<time>-<name>.log. Exit status: 0 when all five ran
# (whether or not they met their targets), 1 when any failed. FORCE=1 runs even on a busy machine.
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOGS="bench/logs"
mkdir -p "$LOGS"

cores="$(nproc)"
load="$(cut -d' ' -f1 /proc/loadavg)"
if [[ "${FORCE:-0}" != "1" ]] && awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > 0.5 * c) }'; then
    echo "load average $load on $cores cores: something else is running, so the numbers would mean little." >&2
    echo "Wait for it to finish, or run with FORCE=1." >&2
    ps -eo pid,pcpu,etime,args --sort=-pcpu | head -5 >&2
    exit 1
fi
if ! command -v ffmpeg >/dev/null; then
    echo "note: no ffmpeg binary on PATH; bench/encode.py will fail (apt-get install -y ffmpeg)" >&2
fi

echo "previz benchmarks, $STAMP, $("$PYTHON" --version 2>&1), $cores cores, load $load" >&2
failed=()
for name in runtime encode end_to_end scale memory; do
    echo "=== bench/$name.py $* ===" >&2
    started=$SECONDS
    if "$PYTHON" "bench/$name.py" "$@" > "$LOGS/$STAMP-$name.json" 2> >(tee "$LOGS/$STAMP-$name.log" >&2); then
        echo "=== $name: done in $((SECONDS - started)) s ===" >&2
    else
        echo "=== $name: FAILED after $((SECONDS - started)) s (see $LOGS/$STAMP-$name.log) ===" >&2
        failed+=("$name")
    fi
done
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all five ran; results appended to bench/results.jsonl or --results FILE (except --no-record, and --quick without --results); JSON in $LOGS/" >&2
