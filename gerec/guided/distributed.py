"""Scoring texts on a Ray cluster: Ray Data actors that each load the scorer once.

The texts still to score (the content-hash cache already skipped the rest) become a Ray
dataset; ``map_batches`` sends batches to ``actors`` copies of a callable class that builds
the scorer in its constructor, and the raw scores come back as Parquet parts (``hash``,
``raw``) written by the workers themselves — the driver never holds them all. The caller
merges the parts into its cache, exactly as it merges the parts of ``--shard`` jobs.
Without a cluster address Ray starts locally, on this machine's cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from gerec.errors import GerecError
from gerec.guided.schema import Schema
from gerec.guided.score import raw_table


@dataclass(frozen=True)
class ScorerSpec:
    """What a worker needs to build the same scorer (the arguments of ``make_scorer``)."""

    backend: str
    model: str
    generate: bool = False
    dtype: str = ""
    batch_size: int = 0
    device: str | None = None
    adapter: str | None = None

    def build(self) -> Any:
        from gerec.guided.scorers import make_scorer

        return make_scorer(**asdict(self))

    # the driver keys the score cache and calibrates with these, without loading the model
    # (a causal LM can be larger than the driver's memory; only the actors need it)
    def describe(self) -> dict[str, str]:
        from gerec.guided.scorers import scorer_class

        return scorer_class(self.backend, self.model).description(self.model, self.generate, self.adapter)

    @property
    def calibrated(self) -> bool:
        from gerec.guided.scorers import scorer_class

        return bool(scorer_class(self.backend, self.model).calibrated)


class _ScoreActor:
    """One Ray actor: loads the scorer once, then scores every batch it is sent."""

    def __init__(self, spec: ScorerSpec, schema: Schema, kind: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.scorer, self.schema, self.kind = spec.build(), schema, kind

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch["text"].to_pylist()
        raw = self.scorer.raw_scores(texts, self.schema, self.kind).double().numpy()
        return raw_table(batch["hash"].to_pylist(), raw)


def score_with_ray(spec: ScorerSpec, schema: Schema, texts: list[str], hashes: list[str], kind: str, parts: Path, *,
                   actors: int = 2, address: str | None = None, threads_per_actor: int = 1) -> None:
    """Score ``texts`` on Ray with ``actors`` scorer copies; their parts land in ``parts``."""
    try:
        import ray
    except ImportError:
        raise GerecError("the ray engine needs Ray: pip install 'ray[data]' (or score with --engine local)") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": max(actors * threads_per_actor, 1)}))
    batch = spec.batch_size or (512 if spec.backend == "encoder" else 8)
    table = pa.table({"hash": pa.array(hashes, pa.string()), "text": pa.array(texts, pa.string())})
    # one block per batch, so every actor gets work (a single block would go to one actor)
    dataset = ray.data.from_arrow([table.slice(start, batch) for start in range(0, len(table), batch)])
    scored = dataset.map_batches(
        _ScoreActor, fn_constructor_kwargs={"spec": spec, "schema": schema, "kind": kind,
                                            "threads": threads_per_actor},
        batch_size=batch, batch_format="pyarrow", concurrency=actors, num_cpus=threads_per_actor)
    parts.mkdir(parents=True, exist_ok=True)
    scored.write_parquet(str(parts))
