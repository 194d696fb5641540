"""`gerec run` from an empty workspace: wall time per stage, the comparison it prints, a re-run.

Runs the CLI as a user would (a subprocess, `--json`), on the synthetic default and in
`--quick` mode (or on real data with --data/--format/--schema), then runs it again to time
the all-skipped re-run. Writes benchmarks/results/end_to_end.json.

Run: python benchmarks/end_to_end.py --modes default,quick --threads 2
     python benchmarks/end_to_end.py --modes ml-100k --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gerec.artifacts import read_json, write_json

RESULTS = Path(__file__).parent / "results" / "end_to_end.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MODES = {"default": [], "quick": ["--quick"],
         "ml-100k": ["--data", str(SHARED / "ml-100k"), "--format", "movielens", "--schema", "movies"]}


def timed_run(workspace: Path, args: list[str], threads: int) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "gerec_cli", "--workspace", str(workspace), "--threads", str(threads),
                          "run", *args, "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"gerec run {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return seconds, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="default,quick", help=f"comma-separated: {', '.join(MODES)}")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    results = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}
    for mode in args.modes.split(","):
        workspace = Path(tempfile.mkdtemp(prefix=f"gerec-e2e-{mode}-"))
        try:
            first, out = timed_run(workspace, MODES[mode], args.threads)
            again, rerun = timed_run(workspace, MODES[mode], args.threads)
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        (row,) = out["results"]["rows"][:1]
        results["runs"][mode] = {
            "command": f"gerec --threads {args.threads} run {' '.join(MODES[mode])}".replace(str(SHARED), "../shared/data").strip(),
            "wall_seconds": round(first, 1), "rerun_wall_seconds": round(again, 1),
            "rerun_ran": [s["stage"] for s in rerun["stages"] if s["status"] == "ran"],
            "stages": {s["stage"]: s["seconds"] for s in out["stages"]},
            "dataset": out["results"]["dataset"], "model": row["model"],
            "variants": {v: {m: row["variants"][v][m] for m in ("MRR@10", "NDCG@10")} for v in row["variants"]},
            "gains": {g: {m: row["gains"][g][m] for m in ("MRR@10", "NDCG@10")} for g in row["gains"]},
            "threads": args.threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
        }
        write_json(RESULTS, results)
        r = results["runs"][mode]
        print(f"{mode:<8} {r['wall_seconds']:>7.1f} s (re-run {r['rerun_wall_seconds']:.1f} s, ran {r['rerun_ran'] or 'nothing'})  "
              + "  ".join(f"{v} NDCG@10 {x['NDCG@10']['mean']:.4f}" for v, x in r["variants"].items())
              + "  " + "  ".join(f"{g} {x['NDCG@10']['mean']:+.1%} [{x['NDCG@10']['low']:+.1%}, {x['NDCG@10']['high']:+.1%}]"
                                 for g, x in r["gains"].items()), flush=True)
        for stage, seconds in r["stages"].items():
            print(f"    {stage:<16} {seconds:>7.1f} s")


if __name__ == "__main__":
    main()
