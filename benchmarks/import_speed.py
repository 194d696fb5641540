"""Import time of the three real datasets in ../shared/data (the foundation issue's targets:
ML-100K < 5 s, Amazon Games < 20 s on 2 cores).

Run: python benchmarks/import_speed.py [--repeats 3]
Writes benchmarks/results/import_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import gerec
from gerec.artifacts import write_json

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = {
    "ml-100k": ("movielens", DATA / "ml-100k", None),
    "amazon-games": ("sequences", DATA / "amazon-games" / "games_sequences.tsv", DATA / "amazon-games" / "games_items.tsv"),
    "amazon-beauty": ("sequences", DATA / "amazon-beauty" / "user_sequence.txt",
                      DATA / "amazon-beauty" / "item_generative_indexing_phase_0.txt"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for name, (fmt, path, items) in DATASETS.items():
        times = []
        for _ in range(args.repeats):
            ws = gerec.Workspace.resolve(tempfile.mkdtemp(prefix="gerec-bench-"))
            started = time.perf_counter()
            manifest = gerec.import_data(ws, fmt, path, items)
            times.append(time.perf_counter() - started)
        final = manifest["final"]
        results[name] = {"seconds_median": round(statistics.median(times), 3), "seconds_all": [round(t, 3) for t in times],
                         "users": final["users"], "items": final["items"], "interactions": final["interactions"],
                         "tied_test_events": manifest["split"]["tied_test_events"]}
    out = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {__import__('os').cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "results": results}
    write_json(Path(__file__).parent / "results" / "import_speed.json", out)
    print(f"{'dataset':<15}{'users':>9}{'items':>8}{'interactions':>14}{'seconds':>10}")
    for name, r in results.items():
        print(f"{name:<15}{r['users']:>9,}{r['items']:>8,}{r['interactions']:>14,}{r['seconds_median']:>10.2f}")


if __name__ == "__main__":
    main()
