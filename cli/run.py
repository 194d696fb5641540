"""`gerec run`: every stage end to end, skipping the ones whose inputs have not changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from gerec.names import ARMS, DEFAULT_ENCODER
from gerec_cli.common import SeedOption, configure_threads, console, device, print_json, settings, workspace
from gerec_cli.evaluate import comparison_table
from gerec_cli.serving import items_table


def run(
    ctx: typer.Context,
    data: Annotated[Optional[Path], typer.Option(help="Real data to import instead of the synthetic default.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of --data (see `gerec data import --help`).")] = "movielens",
    items: Annotated[Optional[Path], typer.Option(help="Item text file for --data, where the format needs one.")] = None,
    models: Annotated[str, typer.Option(help="Base models to train, comma-separated: gru4rec,sasrec,bert4rec.")] = "sasrec",
    schema: Annotated[str, typer.Option(help="Attribute schema for the guided-embedding stage (name or YAML path).")] = "movies",
    backend: Annotated[str, typer.Option(help="Scorer: encoder (offline default) | causal (a prompted causal LM).")] = "encoder",
    lm: Annotated[str, typer.Option(help="The scorer's model: a local path or hub id.")] = DEFAULT_ENCODER,
    finetune: Annotated[str, typer.Option(help="LoRA fine-tune the scorer on the train split before scoring: direct (the LM alone predicts the next item) | residual (the LM's term is added to the first base model's logits: it learns what the model misses). Default: zero-shot scores.")] = "",
    finetune_set: Annotated[Optional[list[str]], typer.Option("--finetune-set", help="key=value fine-tuning setting (see `gerec guided finetune --help`), e.g. format_weight=3.")] = None,
    quick: Annotated[bool, typer.Option(help="A small synthetic dataset and 3 epochs per model: the whole run in under a minute.")] = False,
    force: Annotated[Optional[list[str]], typer.Option(help="Redo a stage even if its inputs are unchanged (repeatable; 'all', a stage such as 'guided', or a family such as 'base').")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value training setting for every model (e.g. epochs=20).")] = None,
    seed: SeedOption = None,
    seeds: Annotated[int, typer.Option(help="Train every model and arm this many times (seed, seed + 1, ...); tables average the seeds and show their spread. PROTOCOL.md asks for 3.")] = 1,
    cold_items: Annotated[float, typer.Option(help="Share of items held out of training as cold items (first seen last in time); the results then have a held-out bucket.")] = 0.0,
    arms: Annotated[str, typer.Option(help="Arms trained beside base and base-continued, comma-separated: reduced, refined, shuffled, nouser (refined with β = 0), metadata (genres/categories for the scores).")] = ",".join(ARMS),
    reduction: Annotated[str, typer.Option(help="How each base item table is reduced to d − m dimensions: pca | linear (score-preserving) | orthogonal (PCA of what the guided scores do not explain) | none (keep the whole base table: refined models widen to d + m and start from the whole base model).")] = "pca",
    freeze_base: Annotated[bool, typer.Option(help="With --reduction none: every arm from the store trains only what refinement adds (adapter, query head, user vectors, a control's own columns); the base model stays as trained.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the pipeline end to end: data → base models → guided attribute scores → feature store →
    refined models (and the reduced-only ablation) → evaluation → FAISS index → report; then print
    the results table and example recommendations with their reasons."""
    from gerec.steps.run import RunConfig
    from gerec.steps.run import run as run_all

    configure_threads(ctx)
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    config = RunConfig(data=data, fmt=fmt, items=items, models=names, schema=schema, backend=backend, lm=lm,
                       finetune=finetune, quick=quick, settings=settings(None, set_, seed), device=device(ctx),
                       cold_items=cold_items, seeds=seeds, finetune_settings=settings(None, finetune_set),
                       arms=tuple(a.strip() for a in arms.split(",") if a.strip()), reduction=reduction,
                       freeze_base=freeze_base)
    outcome = run_all(workspace(ctx), config, tuple(force or ()), Console(stderr=True, quiet=json_out),
                      show_progress=not json_out)
    if json_out:
        print_json(outcome)
        return
    stages, examples, artifacts = outcome["stages"], outcome["examples"], outcome["artifacts"]
    console.print(comparison_table(outcome["results"]))
    for line in story(outcome["results"]):
        console.print(line, highlight=False)
    if quick:
        console.print("[dim]--quick trains every model for 3 epochs: these figures come from short training, "
                      "not converged models, and say nothing about the method. Run without --quick for those.[/]")
    for case in examples:
        recent = "; ".join(case["history"][-3:])
        console.print(items_table(f"user {case['user_id']} (recently: {recent})", case["items"][:3], "reasons"))
    ran = sum(s["status"] == "ran" for s in stages)
    console.print(f"{ran} stages ran, {len(stages) - ran} skipped (inputs unchanged) in "
                  f"{sum(s['seconds'] for s in stages):.0f} s. Artifacts:")
    for what, where in artifacts.items():
        console.print(f"  {what:<20} {where}", highlight=False, soft_wrap=True)


# short labels: the bucket table fits 80 columns
BUCKETS = {"item_events": "item events {}", "history_length": "history {}", "held_out": "{} items"}


def _share(x: float) -> str:
    """A bucket's share of test events: one decimal under 10%, so a small bucket does not read 0%."""
    return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"


def story(results: dict[str, Any]) -> list[Any]:
    """What the table means, after it: where the headline gain is (per bucket, with its
    interval), how cold items fare, and how much of a recommendation the attributes carry."""
    from rich import box
    from rich.table import Table

    from gerec.evaluation.compare import change_parts
    from gerec.names import LABELS

    out: list[Any] = []
    for row in results["rows"]:
        head = row.get("headline")
        if head:
            gain = f"refined_vs_{head['control']}"
            table = Table(title=f"{row['model']}: refined vs {LABELS[head['control']]}, NDCG@10, by bucket "
                                "(share: of test events)",
                          box=box.SIMPLE_HEAD, pad_edge=False)
            for col, justify in (("bucket", "left"), ("share", "right"), ("refined", "right"),
                                 ("control", "right"), ("change", "right"), ("95% interval", "left")):
                table.add_column(col, justify=justify, no_wrap=True)
            for dimension, buckets in row.get("breakdown", {}).items():
                for name, b in buckets.items():
                    if not b["users"]:
                        continue
                    v = b["variants"]
                    change, interval = change_parts(b["gains"][gain]["NDCG@10"])
                    table.add_row(BUCKETS[dimension].format(name), _share(b["share"]), f"{v['refined']['NDCG@10']:.4f}",
                                  f"{v[head['control']]['NDCG@10']:.4f}", change,
                                  interval or ("too few hits" if change != "—" else ""))
            out.append(table)
            new = row.get("breakdown", {}).get("item_events", {}).get("0", {})
            if new.get("users"):  # items released after every training event: where text is all there is
                v = new["variants"]
                out.append(f"New items: {new['users']:,} test events ({new['share']:.2%}) ask for an item with no "
                           f"training event; NDCG@10 on them: refined {v['refined']['NDCG@10']:.4f}, "
                           f"{LABELS[head['control']]} {v[head['control']]['NDCG@10']:.4f}.")
        share = row.get("attribution", {}).get("refined")
        if share:
            top = sorted(share["importance"].items(), key=lambda kv: -kv[1])[:3]
            out.append(f"The attribute dimensions carry {share['mean_share']:.0%} of a refined top-{share['k']} "
                       f"score on average; the most used: {', '.join(a for a, _ in top)}.")
    cold = results.get("cold_items") or {}
    if cold.get("items"):
        out.append(f"{cold['items']:,} items were held out of training ({cold['test_events']:,} test events): "
                   "see the held-out rows above.")
    return out
