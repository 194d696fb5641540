"""Score items and users with a causal language model (the paper's scorer), by hub id or local path.

Run: python examples/causal_lm.py --model Qwen/Qwen2.5-0.5B-Instruct [WORKSPACE]
     python examples/causal_lm.py --model /models/llama-3.2-1b-instruct --dtype bfloat16 --items 2000

GPU notes: the scorer puts the model on CUDA when torch sees a GPU (--device cpu|cuda to choose).
Pass --dtype bfloat16 there
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

import gerec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", nargs="?", default=None)
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="hub id or local path")
    parser.add_argument("--dtype", default=None, help="e.g. bfloat16 on a GPU")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--schema", default="movies", help="shipped schema name or YAML path")
    parser.add_argument("--items", type=int, default=40, help="synthetic items to score")
    parser.add_argument("--device", default=None, help="auto (default) | cpu | cuda")
    args = parser.parse_args()

    ws = gerec.Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="gerec-"))
    gerec.synthesize(ws, gerec.SynthConfig(n_items=args.items, n_users=args.items, max_length=8, mean_length=6))
    manifest = gerec.score(ws, args.schema, backend="causal", lm=args.model, dtype=args.dtype or "",
                           batch_size=args.batch_size, device=args.device, show_progress=False)
    names = manifest["attributes"]
    print(f"{args.model}: scored {manifest['items']['rows']} items and "
          f"{manifest['users']['rows']} users on {len(names)} attributes")
    items = pq.read_table(ws.item_attributes_path).to_pandas()  # an artifact: plain Parquet
    texts = pq.read_table(ws.items_path, columns=["item_id", "text"]).to_pandas().set_index("item_id")["text"]
    for _, row in items.head(3).iterrows():
        scores = ", ".join(f"{name} {row[name]:.1f}" for name in names)
        print(f"- {texts[row['item_id']][:70]}...\n  {scores}")


if __name__ == "__main__":
    main()
