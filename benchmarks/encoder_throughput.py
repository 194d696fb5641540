"""Encoder scorer throughput (items/s) on ML-100K's item texts and the synthetic default's.

Run: python benchmarks/encoder_throughput.py [--threads 2]
Writes benchmarks/results/encoder_throughput.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from gerec.artifacts import write_json
from gerec.data.synth import SynthConfig, generate
from gerec.guided.encoder import EncoderScorer
from gerec.guided.schema import load_schema

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def ml100k_texts() -> list[str]:
    from gerec.data.formats import read_dataset

    return read_dataset("movielens", DATA / "ml-100k").items["text"].to_pylist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scorer = EncoderScorer()
    schema = load_schema("movies")
    scorer.raw_scores(["warm-up text."] * 8, schema)
    texts = {"ml100k": ml100k_texts(), "synthetic": generate(SynthConfig())["items"]["text"].to_pylist()}
    out = {"threads": args.threads, "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    for name, batch in texts.items():
        started = time.perf_counter()
        scorer.raw_scores(batch, schema)
        seconds = time.perf_counter() - started
        out[name] = {"items": len(batch), "seconds": round(seconds, 2), "items_per_second": round(len(batch) / seconds, 1)}
        print(f"{name}: {len(batch)} items in {seconds:.1f} s = {len(batch) / seconds:.0f} items/s")
    write_json(Path(__file__).parent / "results" / "encoder_throughput.json", out)


if __name__ == "__main__":
    main()
