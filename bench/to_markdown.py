"""Print recorded benchmark results as Markdown, ready for docs/performance.md: one table per run, with its command.

    python bench/to_markdown.py                       # every record in bench/results.jsonl
    python bench/to_markdown.py --last 5              # the last five (one run_all.sh)
    python bench/to_markdown.py --benchmark encode FILE.jsonl
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parent


def _cell(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def render(record: dict) -> str:
    machine, versions = record.get("machine", {}), record.get("versions", {})
    lines = [
        f"### {record['benchmark']}, {record['date']}{' (quick: not a measurement)' if record.get('quick') else ''}",
        "",
        f"`{record['command']}`",
        "",
        f"{machine.get('cpus_usable')} of {machine.get('cpu_count')} cores ({machine.get('cpu_model')}), "
        f"load {machine.get('load_average')} -> {machine.get('load_average_after')}; onnxruntime "
        f"{versions.get('onnxruntime')}, av {versions.get('av')}, torch {versions.get('torch')}"
        + (f", {versions['ffmpeg_binary']}" if versions.get("ffmpeg_binary") else ""),
        "",
        "| comparison | metric | ours (median) | peer (median) | ours/peer | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in record.get("rows", []):
        lines.append(f"| {_cell(row.get('row'))} | {_cell(row.get('metric'))} | {_cell(row.get('ours_median'))} | "
                     f"{_cell(row.get('peer_median'))} | {_cell(row.get('ratio'))} | {_cell(row.get('target_text'))} | "
                     f"{_cell(row.get('met'))} |")
    for note in record.get("notes", []):
        lines.append(f"\n- {note}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="?", default=str(BENCH / "results.jsonl"), help="JSON-lines results file")
    parser.add_argument("--last", type=int, help="only the last N records")
    parser.add_argument("--benchmark", help="only this benchmark (runtime, encode, end_to_end, scale, memory)")
    args = parser.parse_args()
    path = pathlib.Path(args.results)
    if not path.is_file():
        raise SystemExit(f"no results file {path}")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.benchmark:
        records = [r for r in records if r.get("benchmark") == args.benchmark]
    if args.last:
        records = records[-args.last:]
    sys.stdout.write("\n".join(render(record) for record in records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
