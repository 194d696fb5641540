"""`gerec run` as stages: data → base models → guided scores → feature store → refined
models and the reduced-only ablation → evaluation → index → report.

Every stage is a call into the library that the single-purpose commands also make; this
module only names the stages, says what each reads and writes, and summarises it in a line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from gerec.errors import GerecError
from gerec.pipeline.runner import Stage, fingerprint
from gerec.workspace import Workspace

VARIANTS = {"reduced": "reduced", "refined": "both"}  # stage family → `parts` of train_refined


@dataclass
class RunConfig:
    """What `gerec run` was asked for (defaults: the synthetic dataset, SASRec, the offline encoder)."""

    data: Path | None = None  # None: the synthetic default
    fmt: str = "movielens"
    items: Path | None = None
    models: tuple[str, ...] = ("sasrec",)
    schema: str = "movies"
    backend: str = "encoder"
    lm: str = "all-MiniLM-L6-v2"
    finetune: bool = False
    quick: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # training settings for every model

    def __post_init__(self) -> None:
        if not self.models:
            raise GerecError("--models names no model; choose from gru4rec, sasrec, bert4rec")
        if self.quick and self.data is not None:
            raise GerecError("--quick uses a small synthetic dataset; drop --data, or drop --quick "
                             "(and pass --set epochs=3 for short training on real data)")

    def synth(self) -> Any:
        from gerec.data.synth import SynthConfig

        return SynthConfig(n_items=300, n_users=400, max_length=60) if self.quick else SynthConfig()

    def training(self) -> dict[str, Any]:
        return {**({"epochs": 3} if self.quick else {}), **self.overrides}


def _model_files(ws: Workspace, stage: str, model: str) -> tuple[Path, ...]:
    folder = ws.model_dir(stage, model)
    return (folder / "model.safetensors",) + ((folder / "user_vectors.parquet",) if stage == "refined" else ())


def _data_stage(ws: Workspace, config: RunConfig) -> Stage:
    from gerec.data import import_dataset, workspace_stats
    from gerec.data.synth import import_synthetic, synthesize

    if config.data is None:
        params: dict[str, Any] = {"synthetic": dataclasses.asdict(config.synth())}
    else:
        if not config.data.exists():
            raise GerecError(f"--data {config.data}: no such file or folder")
        params = {"format": config.fmt, "data": fingerprint([config.data.resolve()]),
                  "items": fingerprint([config.items.resolve()]) if config.items else None}

    def run() -> str:
        if config.data is None:
            synthesize(ws, config.synth())
            import_synthetic(ws)
        else:
            import_dataset(ws, config.fmt, config.data, config.items)
        final = workspace_stats(ws)["final"]
        return f"{final['users']:,} users, {final['items']:,} items, {final['interactions']:,} interactions"

    return Stage("data", run, params, (), (ws.interactions_path, ws.items_path))


def _base_stage(ws: Workspace, config: RunConfig, model: str, console: Console, show_progress: bool) -> Stage:
    from gerec.data.sequences import Sequences
    from gerec.training import configs_from, train

    model_config, train_config = configs_from(config.training(), model)

    def run() -> str:
        seqs = Sequences.from_workspace(ws)
        result = train(seqs, model_config, train_config, ws.model_dir("base", model),
                       data_files=ws.data_manifest()["files"], console=console, show_progress=show_progress)
        return (f"{len(result.history)} epochs (best {result.best_epoch}), test NDCG@10 "
                f"{result.test['NDCG@10']:.4f}")

    params = {"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)}
    return Stage(f"base:{model}", run, params, ("data",), _model_files(ws, "base", model))


def _guided_stage(ws: Workspace, config: RunConfig, console: Console, show_progress: bool) -> Stage:
    from gerec.guided.schema import load_schema

    schema = load_schema(config.schema)

    def run() -> str:
        from gerec.guided.score import score_workspace
        from gerec.guided.scorers import make_scorer

        scorer = make_scorer(config.backend, config.lm)
        line = ""
        if config.finetune:
            from gerec.guided.finetune import FinetuneConfig, finetune

            out_dir = ws.root / "adapters" / f"{config.backend}-{schema.domain}"
            tuned = finetune(ws, scorer, schema, FinetuneConfig(), out_dir, console=console, show_progress=show_progress)
            line = f"LoRA fine-tuned in {tuned['seconds']:.0f} s; "
        manifest = score_workspace(ws, scorer, schema, console=console, show_progress=show_progress)
        return (line + f"{manifest['items']['rows']:,} items and {manifest['users']['rows']:,} users scored on "
                f"{len(schema)} '{schema.domain}' attributes ({config.backend} {config.lm})")

    params = {"schema": schema.digest(), "backend": config.backend, "lm": config.lm, "finetune": config.finetune}
    outputs = (ws.features_dir / "item_attributes.parquet", ws.features_dir / "user_attributes.parquet")
    return Stage("guided", run, params, ("data",), outputs)


def _features_stage(ws: Workspace, config: RunConfig, console: Console, show_progress: bool) -> Stage:
    def run() -> str:
        from gerec.features.stage import materialize_workspace
        from gerec.features.store import apply

        apply(ws)
        report = materialize_workspace(ws, base_models=list(config.models), console=console, show_progress=show_progress)
        rows = sum(view["rows"] for view in report["views"].values()) if "views" in report else 0
        return f"Feast store applied, {rows:,} rows materialized online"

    after = ("guided", *(f"base:{m}" for m in config.models))
    outputs = (ws.feature_store_dir / "offline", *(ws.reduced_path(m) for m in config.models))
    return Stage("features", run, {"reduction": "pca"}, after, outputs)


def _refine_stage(ws: Workspace, config: RunConfig, family: str, model: str, console: Console,
                  show_progress: bool) -> Stage:
    def run() -> str:
        from gerec.refine.stages import train_refined

        result, _ = train_refined(ws, model, VARIANTS[family], config.training(), console=console,
                                        show_progress=show_progress)
        return f"{len(result.history)} epochs (best {result.best_epoch}), test NDCG@10 {result.test['NDCG@10']:.4f}"

    return Stage(f"{family}:{model}", run, {"settings": config.training()}, ("features",),
                 _model_files(ws, family, model))


def _evaluate_stage(ws: Workspace, config: RunConfig, after: tuple[str, ...]) -> Stage:
    def run() -> str:
        from gerec.evaluation.compare import compare, write_results

        results = compare(ws, list(config.models))
        write_results(ws, results)
        gains = ", ".join(f"{row['model']} {row['gains']['refined_vs_base']['NDCG@10']['mean']:+.1%}"
                          for row in results["rows"])
        return f"refined vs base NDCG@10: {gains}"

    return Stage("evaluate", run, {}, after, (ws.reports_dir / "results.json",))


def _index_stage(ws: Workspace, model: str) -> Stage:
    from gerec.serving.recommender import index_dir

    folder = index_dir(ws, f"refined-{model}")

    def run() -> str:
        from gerec.retrieval.build import build_model_index

        manifest = build_model_index(ws, model, "refined")
        return f"{manifest['kind']} index of {manifest['items']:,} items, recall@10 vs exact {manifest['recall_at_10']:.3f}"

    return Stage("index", run, {}, (f"refined:{model}",), (folder / "index.faiss", folder / "ids.npy"))


def _report_stage(ws: Workspace, index: str) -> Stage:
    def run() -> str:
        from gerec.report.build import write_report

        paths = write_report(ws, index)
        return f"HTML, Markdown and {sum(k.startswith('figure') for k in paths)} figures"

    folder = ws.reports_dir
    return Stage("report", run, {"index": index}, ("evaluate", "index"), (folder / "report.html", folder / "report.md"))


def run_stages(ws: Workspace, config: RunConfig, console: Console, show_progress: bool = True) -> list[Stage]:
    """The stages of `gerec run`, in order."""
    stages = [_data_stage(ws, config)]
    stages += [_base_stage(ws, config, m, console, show_progress) for m in config.models]
    stages.append(_guided_stage(ws, config, console, show_progress))
    stages.append(_features_stage(ws, config, console, show_progress))
    stages += [_refine_stage(ws, config, family, m, console, show_progress)
               for m in config.models for family in VARIANTS]
    stages.append(_evaluate_stage(ws, config, tuple(s.name for s in stages if s.family in ("base", *VARIANTS))))
    stages.append(_index_stage(ws, config.models[0]))
    stages.append(_report_stage(ws, f"refined-{config.models[0]}"))
    return stages


def artifact_locations(ws: Workspace, config: RunConfig) -> dict[str, str]:
    """Where a run put everything, for the final summary."""
    index = config.models[0]
    return {
        "dataset": str(ws.data_dir),
        "base models": ", ".join(str(ws.model_dir("base", m)) for m in config.models),
        "guided scores": str(ws.features_dir),
        "feature store": str(ws.feature_store_dir),
        "refined models": ", ".join(str(ws.model_dir("refined", m)) for m in config.models),
        "reduced-only models": ", ".join(str(ws.model_dir("reduced", m)) for m in config.models),
        "results": str(ws.reports_dir / "results.md"),
        "index": str(ws.root / "indexes" / f"refined-{index}"),
        "report": str(ws.reports_dir / "report.html"),
        "stage manifest": str(ws.root / "pipeline.json"),
    }
