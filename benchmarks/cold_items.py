"""Where held-out (cold) items rank: a finer view than top-K metrics, which are often all 0.

For a workspace imported with ``--cold-items`` and its arms trained (e.g. `gerec run --data
... --cold-items 0.2`), every user whose test item is cold: the rank of that item among the
whole catalogue (history excluded, pessimistic ties) and among the cold items alone, per arm,
and the share of users whose cold item is in the top 10 of the cold items. Refined arms rank
cold items by their guided part and the latent part mapped from it; the others by rows that
only ever saw the item as a negative. Writes benchmarks/results/cold_items.json.

Run: gerec --workspace /tmp/mlcold --threads 1 run --data ../shared/data/ml-100k --format movielens --cold-items 0.2
     python benchmarks/cold_items.py --workspace /tmp/mlcold
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import gerec
from gerec.artifacts import read_json, write_json
from gerec.evaluation.metrics import pessimistic_ranks

RESULTS = Path(__file__).parent / "results" / "cold_items.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--label", default=None, help="results key (default: the dataset and model)")
    args = parser.parse_args()
    ws = gerec.Workspace.resolve(args.workspace)
    seqs, cold = gerec.sequences(ws), gerec.cold_items(ws)
    if not len(cold):
        raise SystemExit(f"{ws.root} holds no cold items: import with --cold-items")
    users = seqs.users[np.isin(seqs.targets(seqs.users, "test"), cold)]
    targets = torch.from_numpy(seqs.targets(users, "test"))
    hp, seen = seqs.histories(users, "test")
    exclude = (torch.from_numpy(np.repeat(np.arange(len(users)), np.diff(hp))), torch.from_numpy(seen))
    arms = {}
    for variant, key in ws.trained():
        if key != args.model:
            continue
        net = gerec.load_model(ws.model_dir(variant, key))
        with torch.inference_mode():
            scores = net.score(torch.from_numpy(seqs.padded(users, "test", int(net.config.max_len))),
                               torch.from_numpy(users))
        ranks = pessimistic_ranks(scores, targets, exclude=exclude).numpy()
        among_cold = (scores[:, torch.from_numpy(cold)] >= scores[torch.arange(len(users)), targets][:, None]).sum(1)
        arms[variant] = {"median_rank": int(np.median(ranks)), "median_rank_among_cold": int(np.median(among_cold)),
                         "hit_at_10_among_cold": round(float((among_cold <= 10).float().mean()), 4),
                         "hit_at_10": round(float((ranks <= 10).mean()), 4)}
    manifest = ws.data_manifest()
    key = args.label or f"{Path(next(iter(manifest['source']))).parent.name}/{args.model}"
    runs = read_json(RESULTS)["runs"] if RESULTS.exists() else {}
    runs[key] = {"catalogue": seqs.n_items, "cold_items": int(len(cold)), "cold_test_users": int(len(users)),
                 "share": manifest["cold_items"]["share"], "arms": arms,
                 "random": {"median_rank_among_cold": int(len(cold) / 2), "hit_at_10_among_cold": round(10 / len(cold), 4)},
                 "command": f"python benchmarks/cold_items.py --workspace {args.workspace}",
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    write_json(RESULTS, {"runs": runs})
    for variant, a in arms.items():
        print(f"{key} {variant:<10} median rank {a['median_rank']:>5} of {seqs.n_items}; among {len(cold)} cold items "
              f"{a['median_rank_among_cold']:>4}, top-10 among them {a['hit_at_10_among_cold']:.1%}", flush=True)


if __name__ == "__main__":
    main()
