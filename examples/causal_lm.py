"""Score items and users with a causal language model (the paper's scorer), by hub id or local path.

Run: python examples/causal_lm.py --model Qwen/Qwen2.5-0.5B-Instruct [WORKSPACE]
     python examples/causal_lm.py --model /models/llama-3.2-1b-instruct --dtype bfloat16 --items 2000

GPU notes: the scorer puts the model on CUDA when torch sees a GPU. Pass --dtype bfloat16 there
(half the memory of float32) and raise --batch-size while memory allows: prompts are short,
so batches of dozens fit small models. On a CPU a causal LM is far slower than the default
encoder: try a schema on a hundred items, score a catalogue on a GPU.
The same from the CLI: gerec run --backend causal --lm Qwen/Qwen2.5-0.5B-Instruct
                or: gerec guided score --backend causal --model ... --dtype bfloat16
"""

from __future__ import annotations

import argparse
import tempfile

import pyarrow.parquet as pq

from gerec import Workspace
from gerec.data.synth import SynthConfig, import_synthetic, synthesize
from gerec.guided.causal import CausalScorer
from gerec.guided.schema import load_schema
from gerec.guided.score import score_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", nargs="?", default=None)
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="hub id or local path")
    parser.add_argument("--dtype", default=None, help="e.g. bfloat16 on a GPU")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--schema", default="movies", help="shipped schema name or YAML path")
    parser.add_argument("--items", type=int, default=40, help="synthetic items to score")
    args = parser.parse_args()

    ws = Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="gerec-"))
    synthesize(ws, SynthConfig(n_items=args.items, n_users=args.items, max_length=10))
    import_synthetic(ws)
    scorer = CausalScorer(args.model, batch_size=args.batch_size, dtype=args.dtype)
    schema = load_schema(args.schema)
    manifest = score_workspace(ws, scorer, schema, show_progress=False)
    print(f"{args.model} on {scorer.device}: scored {manifest['items']['rows']} items and "
          f"{manifest['users']['rows']} users on {len(schema)} attributes")
    items = pq.read_table(ws.features_dir / "item_attributes.parquet").to_pandas()
    texts = pq.read_table(ws.items_path, columns=["item_id", "text"]).to_pandas().set_index("item_id")["text"]
    for _, row in items.head(3).iterrows():
        scores = ", ".join(f"{name} {row[name]:.1f}" for name in schema.names)
        print(f"- {texts[row['item_id']][:70]}...\n  {scores}")


if __name__ == "__main__":
    main()
