"""Quickstart with the Python API: data → base SASRec → attribute scores → feature store →
refined SASRec → index → recommendations with their reasons.

Run: python examples/quickstart.py [WORKSPACE]
(The same as `gerec run --quick`, one library call per step.)
"""

from __future__ import annotations

import sys
import tempfile

from gerec import Workspace
from gerec.data.sequences import Sequences
from gerec.data.synth import SynthConfig, import_synthetic, synthesize
from gerec.evaluation.compare import compare
from gerec.features.stage import materialize_workspace
from gerec.features.store import apply
from gerec.guided.encoder import EncoderScorer
from gerec.guided.schema import load_schema
from gerec.guided.score import score_workspace
from gerec.refine.stages import train_refined
from gerec.retrieval.build import build_model_index
from gerec.serving.recommender import Recommender
from gerec.training import configs_from, train


def main(root: str) -> None:
    ws = Workspace.resolve(root)
    # 1. Data: the synthetic default, small (for real data: gerec.data.import_dataset(ws, "movielens", path)).
    synthesize(ws, SynthConfig(n_items=300, n_users=400, max_length=60))
    import_synthetic(ws)
    seqs = Sequences.from_workspace(ws)

    # 2. A base SASRec with full cross-entropy (settings by name; a typo is an error).
    model_config, train_config = configs_from({"epochs": 5}, "sasrec")
    base = train(seqs, model_config, train_config, ws.model_dir("base", "sasrec"), show_progress=False)
    print(f"base sasrec: test NDCG@10 {base.test['NDCG@10']:.4f}")

    # 3. The language model scores every item (its text) and user (recent titles) on named attributes.
    schema = load_schema("movies")
    score_workspace(ws, EncoderScorer(), schema, show_progress=False)

    # 4. Feature store: scores and the base model's reduced item embeddings, materialized online.
    apply(ws)
    materialize_workspace(ws, base_models=["sasrec"], show_progress=False)

    # 5. Refined SASRec: [attribute scores (frozen) ; reduced base embeddings (trained)] + user vectors.
    refined, _ = train_refined(ws, "sasrec", "both", {"epochs": 5}, show_progress=False)
    (row,) = compare(ws, ["sasrec"])["rows"]
    gain = row["gains"]["refined_vs_base"]["NDCG@10"]
    print(f"refined sasrec: test NDCG@10 {refined.test['NDCG@10']:.4f} "
          f"({gain['mean']:+.1%} vs base, 95% CI [{gain['low']:+.1%}, {gain['high']:+.1%}])")

    # 6. A FAISS index over the refined item table, and recommendations with their reasons.
    build_model_index(ws, "sasrec", "refined")
    recommender = Recommender.load(ws, "refined-sasrec")
    answer = recommender.recommend(user_id=1, k=3)
    print("user 1 recently watched:", "; ".join(recommender.titles[i] for i in answer["history"][-3:]))
    for item in answer["items"]:
        reasons = ", ".join(f"{r['attribute']} {r['contribution']:+.2f}" for r in item["reasons"])
        print(f"  {item['title']}: score {item['score']:.2f}, driven by {reasons or 'the latent part'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gerec-"))
