"""Quickstart with the Python API: data → base SASRec → attribute scores → feature store →
refined SASRec → comparison → index → recommendations with their reasons.

Run: python examples/quickstart.py [WORKSPACE]      (what `gerec run --quick` does, one call per step)
"""

from __future__ import annotations

import sys
import tempfile

import gerec


def main(root: str) -> None:
    ws = gerec.Workspace.resolve(root)
    gerec.synthesize(ws, gerec.SynthConfig(n_items=300, n_users=400, max_length=60))  # or gerec.import_data(...)
    base = gerec.train_base(ws, "sasrec", {"epochs": 5}, show_progress=False)
    gerec.score(ws, schema="movies", show_progress=False)  # the language model scores items and users
    gerec.apply_store(ws)
    gerec.materialize(ws, show_progress=False)  # scores + reduced base embeddings, in Feast
    refined = gerec.train_refined(ws, "sasrec", settings={"epochs": 5}, show_progress=False)
    gain = gerec.evaluate(ws)["rows"][0]["gains"]["refined_vs_base"]["NDCG@10"]
    print(f"test NDCG@10: base {base.test['NDCG@10']:.4f}, refined {refined.test['NDCG@10']:.4f} "
          f"({gain['mean']:+.1%}, 95% CI [{gain['low']:+.1%}, {gain['high']:+.1%}])")

    gerec.build_index(ws, "sasrec")
    rec = gerec.load_recommender(ws)
    ids, scores = rec.recommend(1, N=3)  # arrays, as in implicit; rec.recommend([1, 2], N=3) for a batch
    for item, score in zip(ids, scores):
        why = rec.explain(1, int(item))["attributes"]
        top = ", ".join(f"{a} {v:+.2f}" for a, v in sorted(why.items(), key=lambda kv: -kv[1])[:2])
        print(f"  {rec.titles[int(item)]}: score {score:.2f}, driven by {top}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gerec-"))
