"""`gerec run` as stages: data → base models → guided scores → reduced base tables → feature
store → refined models and the reduced-only ablation → evaluation → index → report.

Every stage calls the verb that the single-purpose command calls; this module only names
the stages, says what each reads (``after``: the stages whose outputs are its inputs) and
writes, and summarises each in a line. Keys are as fine as the data a stage reads: a
model's refined and reduced-only arms read its own reduced table and the guided scores, not
the whole store, so adding a model to ``models`` trains only that model's stages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from gerec.config import check, choice, update
from gerec.errors import GerecError
from gerec.names import ARMS, DEFAULT_ENCODER, FINETUNE_OBJECTIVES, LABELS, MODELS, OPTIONAL_ARMS, index_name, replica
from gerec.pipeline.runner import Pipeline, Stage, fingerprint
from gerec.refine.reduce import REDUCTIONS
from gerec.workspace import Workspace



@dataclass(kw_only=True)  # keywords only: fields can be added anywhere without shifting a caller's arguments
class RunConfig:
    """What `gerec run` was asked for (defaults: the synthetic dataset, SASRec, the offline encoder)."""

    data: Path | None = None  # None: the synthetic default
    fmt: str = "movielens"
    items: Path | None = None
    models: tuple[str, ...] = ("sasrec",)
    schema: str = "movies"
    backend: str = "encoder"
    lm: str = DEFAULT_ENCODER
    finetune: str = ""  # "": zero-shot scores; direct | residual: LoRA fine-tune first (residual: on the first base model's misses)
    finetune_settings: dict[str, Any] = field(default_factory=dict)  # FinetuneConfig keys, e.g. format_weight
    quick: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # training settings for every model
    device: str | None = None  # None: $GEREC_DEVICE, else auto
    cold_items: float = 0.0  # share of items held out of training as cold items (PROTOCOL.md)
    seeds: int = 1  # replicas of every model and arm (PROTOCOL.md asks for 3); replica k trains with seed + k
    arms: tuple[str, ...] = ARMS  # the arms trained from the store beside base and base-continued (refined always)
    reduction: str = "pca"  # how each base table is reduced to d − m (gerec/refine/reduce.py)
    freeze_base: bool = False  # reduction none only: the arms train only what refinement adds to the base

    def __post_init__(self) -> None:
        if not self.models:
            raise GerecError(f"models names no model; choose from {', '.join(MODELS)}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise GerecError(f"unknown model '{unknown[0]}'; choose from {', '.join(MODELS)}")
        check("seeds", self.seeds, 1, 100)
        choice("reduction", self.reduction, REDUCTIONS)
        if self.freeze_base and self.reduction != "none":
            raise GerecError("freeze_base trains only what refinement adds to the whole base model: it needs "
                             "reduction 'none' (the other reductions train a fresh encoder)")
        if self.finetune:
            choice("finetune", self.finetune, FINETUNE_OBJECTIVES)
        if self.finetune_settings and not self.finetune:
            raise GerecError("fine-tuning settings were given without --finetune direct|residual")
        if self.finetune_settings:  # a misspelt key fails now, not after the base models trained
            from gerec.guided.finetune import FinetuneConfig

            update(FinetuneConfig(), self.finetune_settings)
        unknown = [a for a in self.arms if a not in (*ARMS, *OPTIONAL_ARMS)]
        if unknown:
            raise GerecError(f"unknown arm '{unknown[0]}'; choose from {', '.join((*ARMS, *OPTIONAL_ARMS))}")
        if "refined" not in self.arms:
            raise GerecError("the arms must include 'refined': every other arm is its control")
        if self.quick and self.data is not None:
            raise GerecError("quick mode uses a small synthetic dataset; give no data, or leave quick mode "
                             "(and set epochs=3 for short training on real data)")

    def synth(self) -> Any:
        from gerec.data.synth import SynthConfig

        return SynthConfig(n_items=300, n_users=400, max_length=60) if self.quick else SynthConfig()

    def training(self) -> dict[str, Any]:
        return {**({"epochs": 3} if self.quick else {}), **self.settings}

    def keys(self) -> list[str]:
        """Every model key trained: each model's replicas (``sasrec``, ``sasrec-seed1`` ...), seed by seed."""
        return [replica(model, k) for k in range(self.seeds) for model in self.models]


def _model_files(ws: Workspace, variant: str, model: str) -> tuple[Path, ...]:
    """Everything a training run publishes (at once: see :func:`gerec.training.train`)."""
    folder = ws.model_dir(variant, model)
    names = ("config.json", "model.safetensors", "item_embeddings.parquet", "metrics.json")
    return tuple(folder / n for n in names) + ((folder / "user_vectors.parquet",) if variant == "refined" else ())


def _data_stage(ws: Workspace, config: RunConfig) -> Stage:
    from gerec.steps.data import import_data, stats, synthesize

    from gerec.data.prepare import ImportOptions

    options = ImportOptions(cold_items=config.cold_items)
    if config.data is None:
        params: dict[str, Any] = {"synthetic": dataclasses.asdict(config.synth())}
    else:
        if not config.data.exists():
            raise GerecError(f"data {config.data}: no such file or folder")
        params = {"format": config.fmt, "data": fingerprint([config.data.resolve()]),
                  "items": fingerprint([config.items.resolve()]) if config.items else None}

    if config.cold_items:  # only then: the key of a run without held-out items stays as it was
        params["options"] = dataclasses.asdict(options)

    def run() -> str:
        if config.data is None:
            synthesize(ws, config.synth(), options=options)
        else:
            import_data(ws, config.fmt, config.data, config.items, options=options)
        final = stats(ws)["final"]
        return f"{final['users']:,} users, {final['items']:,} items, {final['interactions']:,} interactions"

    return Stage("data", run, params, (), (ws.interactions_path, ws.items_path))


def _base_stage(ws: Workspace, config: RunConfig, model: str, console: Console, show_progress: bool) -> Stage:
    from gerec.steps.base import effective_settings

    params = effective_settings(model, config.training())  # a bad setting fails before any stage

    def run() -> str:
        from gerec.steps.base import train_base

        result = train_base(ws, model, config.training(), device=config.device, console=console,
                            show_progress=show_progress)
        return f"{result.epochs} epochs (best {result.best_epoch}), test NDCG@10 {result.test['NDCG@10']:.4f}"

    return Stage(f"base:{model}", run, params, ("data",), _model_files(ws, "base", model))


def _guided_stage(ws: Workspace, config: RunConfig, console: Console, show_progress: bool) -> Stage:
    from gerec.guided.schema import load_schema

    schema = load_schema(config.schema)

    def run() -> str:
        from gerec.steps.guided import finetune, score

        if config.finetune:
            settings = {**config.finetune_settings, "objective": config.finetune}
            tuned = finetune(ws, schema, config.backend, config.lm, settings, device=config.device,
                             console=console, show_progress=show_progress, base_model=config.models[0])
            manifest = tuned["score"]
            line = f"LoRA fine-tuned ({config.finetune}) in {tuned['finetune']['seconds']:.0f} s; "
        else:
            manifest, line = score(ws, schema, config.backend, config.lm, device=config.device, console=console,
                                   show_progress=show_progress), ""
        return (line + f"{manifest['items']['rows']:,} items and {manifest['users']['rows']:,} users scored on "
                f"{len(schema)} '{schema.domain}' attributes ({config.backend} {config.lm})")

    # False for zero-shot keeps the stage key of workspaces made before the objectives existed
    params = {"schema": schema.digest(), "backend": config.backend, "lm": config.lm, "finetune": config.finetune or False,
              **({"finetune_settings": config.finetune_settings} if config.finetune_settings else {})}
    # the residual objective reads the first base model, so a retrained base means new scores
    after = ("data", f"base:{config.models[0]}") if config.finetune == "residual" else ("data",)
    return Stage("guided", run, params, after, (ws.item_attributes_path, ws.user_attributes_path))


def _reduce_stage(ws: Workspace, model: str, reduction: str) -> Stage:
    def run() -> str:
        from gerec.steps.features import reduce_base_model, reduction_line

        return reduction_line(reduce_base_model(ws, model, reduction))

    return Stage(f"reduce:{model}", run, {"reduction": reduction}, ("guided", f"base:{model}"), (ws.reduced_path(model),))


def _features_stage(ws: Workspace, config: RunConfig, console: Console, show_progress: bool) -> Stage:
    def run() -> str:
        from gerec.steps.features import apply, materialize

        apply(ws)
        report = materialize(ws, base_models=[], console=console, show_progress=show_progress)
        rows = sum(view["rows"] for view in report["views"].values())
        return f"Feast store applied, {rows:,} rows materialized online"

    after = ("guided", *(f"reduce:{m}" for m in config.keys()))
    return Stage("features", run, {}, after, (ws.feature_store_dir / "offline",))


def _arm_stage(ws: Workspace, config: RunConfig, variant: str, model: str, console: Console,
               show_progress: bool) -> Stage:
    def run() -> str:
        from gerec.steps.refine import train_refined

        result = train_refined(ws, model, variant, config.training(), device=config.device, console=console,
                               show_progress=show_progress, freeze_base=config.freeze_base)
        return f"{result.epochs} epochs (best {result.best_epoch}), test NDCG@10 {result.test['NDCG@10']:.4f}"

    # reads this model's base settings, its reduced table and the guided scores (through the store)
    after = ("guided", f"base:{model}", f"reduce:{model}")
    params = {"settings": config.training(), **({"freeze_base": True} if config.freeze_base else {})}  # old keys stay
    return Stage(f"{variant}:{model}", run, params, after, _model_files(ws, variant, model))


def _continued_stage(ws: Workspace, config: RunConfig, model: str, console: Console, show_progress: bool) -> Stage:
    """The base-continued control: the base trained on for as many epochs as the refined arm ran
    (refined starts from the base's table, so "refined vs base" alone includes extra training)."""
    def run() -> str:
        from gerec.steps.base import continue_base

        result = continue_base(ws, model, settings=config.training(), device=config.device, console=console,
                               show_progress=show_progress)
        return f"{result.epochs} more epochs, test NDCG@10 {result.test['NDCG@10']:.4f}"

    return Stage(f"continued:{model}", run, {"settings": config.training()}, (f"base:{model}", f"refined:{model}"),
                 _model_files(ws, "continued", model))


def _evaluate_stage(ws: Workspace, config: RunConfig, after: tuple[str, ...]) -> Stage:
    def run() -> str:
        from gerec.steps.evaluate import evaluate

        results = evaluate(ws, list(config.models), device=config.device)
        gains = ", ".join(f"{row['model']} {row['headline']['gain']['NDCG@10']['mean']:+.1%} vs "
                          f"{LABELS[row['headline']['control']]}" for row in results["rows"] if row.get("headline"))
        return f"refined vs the strongest control, NDCG@10: {gains}"

    return Stage("evaluate", run, {}, after, (ws.results_path,))


def _index_stage(ws: Workspace, model: str) -> Stage:
    folder = ws.index_dir(index_name(model))

    def run() -> str:
        from gerec.steps.index import build_index

        manifest = build_index(ws, model, "refined")
        return f"{manifest['kind']} index of {manifest['items']:,} items, recall@10 vs exact {manifest['recall_at_10']:.3f}"

    return Stage("index", run, {}, (f"refined:{model}",), (folder / "index.faiss", folder / "items.parquet"))


def _report_stage(ws: Workspace, index: str) -> Stage:
    def run() -> str:
        from gerec.steps.report import write_report

        paths = write_report(ws, index)
        return f"HTML, Markdown and {sum(k.startswith('figure') for k in paths)} figures"

    folder = ws.reports_dir
    return Stage("report", run, {"index": index}, ("evaluate", "index"), (folder / "report.html", folder / "report.md"))


def stages(ws: Workspace, config: RunConfig, console: Console, show_progress: bool = True) -> list[Stage]:
    """The stages of `gerec run`, in order."""
    out = [_data_stage(ws, config)]
    out += [_base_stage(ws, config, m, console, show_progress) for m in config.keys()]
    out.append(_guided_stage(ws, config, console, show_progress))
    out += [_reduce_stage(ws, m, config.reduction) for m in config.keys()]
    out.append(_features_stage(ws, config, console, show_progress))
    # seed by seed, the method and its strongest-looking controls first: a sweep stopped midway
    # leaves whole replicas, which is what a comparison can use
    for m in config.keys():
        out += [_arm_stage(ws, config, variant, m, console, show_progress) for variant in config.arms]
        out.append(_continued_stage(ws, config, m, console, show_progress))
    out.append(_evaluate_stage(ws, config, tuple(s.name for s in out if s.family in ("base", "continued", *config.arms))))
    out.append(_index_stage(ws, config.models[0]))
    out.append(_report_stage(ws, index_name(config.models[0])))
    return out


def run(ws: Workspace, config: RunConfig | None = None, force: tuple[str, ...] = (), console: Console | None = None,
        show_progress: bool = True) -> dict[str, Any]:
    """Run every stage whose inputs changed (or that ``force`` names); returns the per-stage
    records, the results, the report's three case studies and where every artifact is."""
    from gerec.artifacts import read_json

    config = config or RunConfig()
    console = console or Console(stderr=True)
    records = Pipeline(ws, stages(ws, config, console, show_progress)).run(force, console, show_progress)
    return {"workspace": str(ws.root), "stages": records, "results": read_json(ws.results_path),
            "examples": read_json(ws.reports_dir / "report.json")["cases"], "artifacts": artifact_locations(ws, config)}


def artifact_locations(ws: Workspace, config: RunConfig) -> dict[str, str]:
    """Where a run put everything, for the final summary."""
    return {
        "dataset": str(ws.data_dir),
        "base models": ", ".join(str(ws.model_dir("base", m)) for m in config.models),
        "guided scores": str(ws.features_dir),
        "feature store": str(ws.feature_store_dir),
        "refined models": ", ".join(str(ws.model_dir("refined", m)) for m in config.models),
        "reduced-only models": ", ".join(str(ws.model_dir("reduced", m)) for m in config.models),
        "results": str(ws.results_path.with_suffix(".md")),
        "index": str(ws.index_dir(index_name(config.models[0]))),
        "report": str(ws.reports_dir / "report.html"),
        "stage manifest": str(ws.pipeline_path),
    }
