"""gerec: guided embedding refinement for sequential recommendation.

The workspace verbs and the recommender are importable from here; they load lazily, so
``import gerec`` (and ``gerec --help``) stay fast — torch and Feast load on first use::

    import gerec

    ws = gerec.Workspace.resolve("my-workspace")
    gerec.synthesize(ws)                                   # or gerec.import_data(ws, "movielens", path)
    gerec.train_base(ws, "sasrec", {"epochs": 20})
    gerec.score(ws, schema="movies")                       # language-model attribute scores
    gerec.apply_store(ws); gerec.materialize(ws)           # the Feast feature store
    gerec.train_refined(ws, "sasrec")                      # [scores ; reduced base] item table
    results = gerec.evaluate(ws)                           # paired-bootstrap comparison
    gerec.build_index(ws, "sasrec")
    rec = gerec.load_recommender(ws)
    ids, scores = rec.recommend(1, N=10)                   # or users=[1, 2], histories=[[3, 5]]
    rec.explain(1, int(ids[0]))                            # per-attribute split of one score
"""

from __future__ import annotations

import importlib
from typing import Any

from gerec.errors import DataError, GerecError
from gerec.workspace import Workspace

__version__ = "0.1.0"

# public name → (module, attribute): the verbs of gerec.steps and what they return
_LAZY = {
    "import_data": ("gerec.steps.data", "import_data"),
    "synthesize": ("gerec.steps.data", "synthesize"),
    "data_stats": ("gerec.steps.data", "stats"),
    "sequences": ("gerec.steps.data", "sequences"),
    "cold_items": ("gerec.steps.data", "cold_items"),
    "load_model": ("gerec.training", "load_checkpoint"),
    "train_base": ("gerec.steps.base", "train_base"),
    "continue_base": ("gerec.steps.base", "continue_base"),
    "score": ("gerec.steps.guided", "score"),
    "finetune": ("gerec.steps.guided", "finetune"),
    "apply_store": ("gerec.steps.features", "apply"),
    "materialize": ("gerec.steps.features", "materialize"),
    "reduce_base_model": ("gerec.steps.features", "reduce_base_model"),
    "train_refined": ("gerec.steps.refine", "train_refined"),
    "evaluate": ("gerec.steps.evaluate", "evaluate"),
    "build_index": ("gerec.steps.index", "build_index"),
    "add_items": ("gerec.steps.index", "add_items"),
    "load_recommender": ("gerec.steps.recommend", "load_recommender"),
    "write_report": ("gerec.steps.report", "write_report"),
    "run": ("gerec.steps.run", "run"),
    "RunConfig": ("gerec.steps.run", "RunConfig"),
    "Recommender": ("gerec.serving.recommender", "Recommender"),
    "load_schema": ("gerec.guided.schema", "load_schema"),
    "parse_schema": ("gerec.guided.schema", "parse_schema"),
    "make_scorer": ("gerec.guided.scorers", "make_scorer"),
    "SynthConfig": ("gerec.data.synth", "SynthConfig"),
    "ColumnMap": ("gerec.data.formats", "ColumnMap"),
    "ImportOptions": ("gerec.data.prepare", "ImportOptions"),
}

__all__ = ["DataError", "GerecError", "Workspace", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'gerec' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
