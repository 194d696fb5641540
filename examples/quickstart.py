"""Quickstart with the Python API: data in, leave-one-out split, a base SASRec, evaluation.

Run: python examples/quickstart.py [WORKSPACE]
"""

from __future__ import annotations

import sys
import tempfile

from gerec import Workspace
from gerec.data import workspace_stats
from gerec.data.sequences import Sequences
from gerec.data.synth import SynthConfig, import_synthetic, synthesize
from gerec.evaluation import evaluate
from gerec.models import Popularity
from gerec.training import configs_from, train


def main(root: str) -> None:
    ws = Workspace.resolve(root)
    # 1. Data: the synthetic default (for real data: gerec.data.import_dataset(ws, "movielens", path)).
    synthesize(ws, SynthConfig(n_items=300, n_users=400))
    import_synthetic(ws)
    stats = workspace_stats(ws)
    print(f"{stats['final']['users']} users, {stats['final']['items']} items, "
          f"{stats['final']['interactions']} interactions")

    # 2. Any object with score(histories, users) -> (B, n_items + 1) can be evaluated.
    seqs = Sequences.from_workspace(ws)
    popularity = evaluate(Popularity.fit(seqs), seqs, split="test")
    print("popularity", {name: round(value, 4) for name, value in popularity.metrics.items() if name.endswith("@10")})

    # 3. A base SASRec with full cross-entropy (settings by name; a typo is an error).
    model_config, train_config = configs_from({"epochs": 5, "dim": 32}, "sasrec")
    result = train(seqs, model_config, train_config, ws.model_dir("base", "sasrec"), show_progress=False)
    print("sasrec", {name: round(value, 4) for name, value in result.test.items() if name.endswith("@10")})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gerec-"))
