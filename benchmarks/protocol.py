"""The full protocol (PROTOCOL.md) on real data: every arm, several seeds, converged, resumable.

Each (dataset, model, seed) is one `gerec run` pipeline in its own workspace: the base model
with seed + k, guided scores, the reduced table, the reduced-only, refined and shuffled-score
arms and base-continued. The pipeline skips every stage already done, so a seed stopped at
any point resumes where it stopped. A finished seed leaves a small record in the repository,
benchmarks/results/protocol/<dataset>-<model>/seed<k>.{parquet,json} (each arm's 0-based rank
of every test user's target, its training record and attribute shares), so a sweep spans
sessions and machines: a seed already recorded is never trained again, and the comparison
of the recorded seeds — metrics averaged per user over seeds, then the paired bootstrap —
is rebuilt from the records into benchmarks/results/protocol.json, with which rows are complete.

Order (most informative first): SASRec on each dataset, then GRU4Rec, then BERT4Rec on ML-100K.
Base settings are the converged ones measured in benchmarks/results/time_to_quality.json.

Run: python benchmarks/protocol.py --threads 2                              # the whole plan
     python benchmarks/protocol.py --plan amazon-beauty/sasrec --seeds 3    # one row, 3 seeds
     python benchmarks/protocol.py --plan amazon-beauty/sasrec --only-seed 1  # one seed of it
     python benchmarks/protocol.py --plan ml-100k/sasrec@movies-extended    # the row on another schema
     python benchmarks/protocol.py --plan ml-100k/sasrec+residual           # scores from residual LoRA fine-tuning
     python benchmarks/protocol.py --plan ml-100k/sasrec:orthogonal         # another reduction of the base table
     python benchmarks/protocol.py --plan amazon-beauty/sasrec:none      # the whole base table, widened refined models
     python benchmarks/protocol.py --plan amazon-beauty/sasrec:none~frozen  # ... training only what refinement adds
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console

import gerec
from gerec.artifacts import atomic_file, read_json, sha256_file, write_json
from gerec.devices import set_threads
from gerec.evaluation.compare import relative_change
from gerec.evaluation.metrics import metrics_from_ranks
from gerec.names import ARMS, FINETUNE_OBJECTIVES, OPTIONAL_ARMS, VARIANTS, replica
from gerec.refine.reduce import REDUCTIONS
from gerec.steps.evaluate import NAMES, Run, evaluate_runs, labels_for, model_row, results_document
from gerec.steps.base import effective_settings
from gerec.steps.run import RunConfig, run
from gerec.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "protocol.json"
RECORDS = Path(__file__).parent / "results" / "protocol"  # one record per finished (dataset, model, seed)
SCHEMAS = {"ml-100k": "movies", "amazon-games": "games", "amazon-beauty": "beauty"}
PLAN = ("ml-100k/sasrec", "amazon-beauty/sasrec", "amazon-games/sasrec", "ml-100k/gru4rec", "amazon-beauty/gru4rec",
        "amazon-games/gru4rec", "ml-100k/bert4rec")
# Base settings per (dataset, model), from time to quality; a row not named trains at the defaults.
# SASRec on the Amazon sets: dropout 0.5 beat 0.2 (Beauty 0.0454 ± 0.0012, Games 0.0564 ± 0.0003 over
# 3 seeds, against 0.0438 / 0.0535 at 0.2); GRU4Rec and BERT4Rec were measured converged at the
# defaults, and dropout 0.5 was never measured for them there.
SETTINGS: dict[str, dict[str, Any]] = {"amazon-beauty/sasrec": {"dropout": 0.5}, "amazon-games/sasrec": {"dropout": 0.5}}
# rows with a fine-tuned scorer (+direct, +residual), from results/finetune_lambda.json (train split
# and genre labels only): λ is the smallest weight tried whose ML-100K genre ROC-AUCs all stay >= 0.85
# (issue 16). residual: λ = 0.3, 5 epochs at lr 3e-3, which lowered the base model's train loss 0.7%
# (1 epoch: 0.5%); direct: λ = 10 (at λ = 3 family friendliness fell to 0.849), 1 epoch at lr 1e-3
FINETUNE_SETTINGS: dict[str, dict[str, Any]] = {"residual": {"format_weight": 0.3, "epochs": 5, "lr": 3e-3},
                                                "direct": {"format_weight": 10.0, "epochs": 1, "lr": 1e-3}}
CATEGORIZED = ("ml-100k",)  # datasets whose items list genres/categories: they have the metadata arm


def base_settings(dataset: str, model: str) -> dict[str, Any]:
    """The converged base settings of a row (see SETTINGS)."""
    return dict(SETTINGS.get(f"{dataset}/{model}", {}))


def compared(dataset: str) -> tuple[str, ...]:
    """Every arm of PROTOCOL.md the dataset allows."""
    return ("base", "continued", *ARMS, *(a for a in OPTIONAL_ARMS if a != "metadata" or dataset in CATEGORIZED))
N_BOOT, BOOT_SEED = 1000, 0
SEED = 42  # gerec's default training seed: seed k of a row trains with SEED + k (checked after training)


class Row(NamedTuple):
    dataset: str
    model: str
    schema: str
    finetune: str  # "": zero-shot scores
    reduction: str  # how the base table is reduced (gerec/refine/reduce.py)
    freeze_base: bool  # the arms train only what refinement adds to the whole base model (reduction none)


def parse_key(key: str) -> Row:
    """The parts of a row key ``dataset/model[@schema][+objective][:reduction][~frozen]``: another
    attribute schema than the dataset's shipped one (``ml-100k/sasrec@movies-extended``), scores from a
    LoRA fine-tuned scorer (``ml-100k/sasrec+residual``: each seed's scorer learns what that seed's base
    model misses), another reduction of the base table (``ml-100k/sasrec:orthogonal``), arms that train
    only what refinement adds to the whole base model (``amazon-beauty/sasrec:none~frozen``)."""
    row, _, frozen = key.partition("~")
    if frozen not in ("", "frozen") or (frozen and not row.endswith(":none")):
        raise SystemExit(f"'{key}': '~frozen' is the only mark after the reduction, and it needs ':none'")
    row, _, reduction = row.partition(":")
    row, _, finetune = row.partition("+")
    row, _, schema = row.partition("@")
    dataset, _, model = row.partition("/")
    if (dataset not in DATASETS or not model or (finetune and finetune not in FINETUNE_OBJECTIVES)
            or (reduction and reduction not in REDUCTIONS)):
        raise SystemExit(f"unknown row '{key}': use dataset/model[@schema][+{'|'.join(FINETUNE_OBJECTIVES)}]"
                         f"[:{'|'.join(REDUCTIONS)}] with a dataset of {', '.join(DATASETS)}")
    if reduction == "pca":
        raise SystemExit(f"'{key}': the PCA is every row's reduction; drop ':pca'")
    return Row(dataset, model, schema or SCHEMAS[dataset], finetune, reduction or "pca", bool(frozen))


def record_paths(key: str, k: int) -> tuple[Path, Path]:
    """The rank table and the JSON record of seed ``k`` of row ``key``."""
    folder = RECORDS / key.replace("/", "-").replace("@", "-").replace("+", "-").replace(":", "-").replace("~", "-")
    return folder / f"seed{k}.parquet", folder / f"seed{k}.json"


def run_seed(key: str, k: int, workdir: Path, device: str | None, console: Console) -> None:
    """Seed ``k`` of one (dataset, model) through the pipeline, then its record.

    Seed k trains with the default seed + k, as replica k of `gerec run --seeds N` does; seed 0
    gives no seed at all, so it is exactly `gerec run`'s own model.
    """
    dataset, model, schema, finetune, reduction, freeze_base = parse_key(key)
    fmt, path, items = DATASETS[dataset]
    # one workspace per (row, seed); a row on another schema or scorer has its own guided scores
    ws = Workspace.resolve(workdir / dataset / (replica(model, k) + ("" if schema == SCHEMAS[dataset] else f"@{schema}")
                                                + (f"+{finetune}" if finetune else "")
                                                + ("" if reduction == "pca" else f"-{reduction}")
                                                + ("-frozen" if freeze_base else "")))
    settings = {**base_settings(dataset, model), **({"seed": SEED + k} if k else {})}
    config = RunConfig(data=Path(path), fmt=fmt, items=Path(items) if items else None, models=(model,),
                       schema=schema, finetune=finetune, finetune_settings=FINETUNE_SETTINGS.get(finetune, {}),
                       settings=settings, device=device, reduction=reduction, freeze_base=freeze_base,
                       arms=compared(dataset)[2:])
    started = time.perf_counter()
    _reuse_scores(ws, workdir / dataset)
    run(ws, config, console=console)
    base = read_json(ws.model_dir("base", model) / "config.json")
    trained = base["train"]["seed"]
    if trained != SEED + k:
        raise SystemExit(f"seed {k} of {key} trained with seed {trained}, not {SEED + k}: gerec's default seed "
                         f"changed; set SEED in {Path(__file__).name} to it")
    runs = evaluate_runs(ws, gerec.sequences(ws), [model], "test", list(compared(dataset)), device=device)
    users = runs["base"][0].users
    ranks = {"user_id": pa.array(users, pa.int64())}
    record: dict[str, Any] = {"dataset": dataset, "model": model, "seed_index": k, "settings": settings,
                              "schema": schema, "data": ws.data_manifest()["final"], "inputs": inputs(ws), "arms": {},
                              "base_config": base_config(base),
                              **({"adapter": adapter(ws)} if finetune else {})}
    for arm, (r,) in runs.items():
        ranks[arm] = pa.array(r.ranks.astype(np.int32))
        m = read_json(ws.model_dir(arm, model) / "metrics.json")
        record["arms"][arm] = {"budgeted": r.budgeted, "shares": r.shares,
                               "training": {"epochs": m["epochs"], "best_epoch": m["best_epoch"],
                                            "stopped": m["stopped"], "seconds": m["seconds"],
                                            "valid": m["valid"]}}  # at the best epoch: what a default is chosen on
    # each stage's key (a digest of its inputs) and its seconds when it last ran (a resumed seed
    # skips finished stages)
    record.update({"stages": {name: {"key": r["key"], "seconds": r["seconds"], "finished": r["finished"]}
                              for name, r in read_json(ws.pipeline_path)["stages"].items()},
                   "session_seconds": round(time.perf_counter() - started, 1),
                   "command": f"python benchmarks/protocol.py --plan {key} --only-seed {k}",
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores, device {device or 'auto'}",
                   "date": time.strftime("%Y-%m-%d")})
    parquet_path, json_path = record_paths(key, k)
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(parquet_path) as tmp:
        pq.write_table(pa.table(ranks), tmp)
    write_json(json_path, record)  # last: a seed counts as recorded only when both files exist


def base_config(config: dict[str, Any]) -> dict[str, Any]:
    """The base model's effective settings (the defaults included), less its seed: what the seeds
    of a row must share. Explicit settings alone miss a change of gerec's defaults between
    sessions (patience 5 became patience_steps 180 after the first ML-100K rows)."""
    return {"model": config["model"], "train": {k: v for k, v in config["train"].items() if k != "seed"}}


def older_defaults(key: str, k: int) -> list[str]:
    """How recorded seed ``k`` of ``key`` trained its base model otherwise than today's code would:
    empty when on today's defaults. A record made before records kept their effective settings
    gives ``["unknown (recorded before base_config)"]``. What training resolves from the data
    (``max_len`` unset, ``loss`` auto) is not compared."""
    record = read_json(record_paths(key, k)[1])
    if "base_config" not in record:
        return ["unknown (recorded before base_config)"]
    dataset, model = parse_key(key)[:2]
    today = effective_settings(model, base_settings(dataset, model))
    return [f"{name} {record['base_config'][part].get(name)} (today {value})"
            for part in ("model", "train") for name, value in today[part].items()
            if name != "seed" and value not in (None, "auto") and record["base_config"][part].get(name) != value]


def inputs(ws: Workspace) -> dict[str, Any]:
    """What every seed of a row must share: the events (their file's digest), the schema and the
    scorer — for a fine-tuned scorer its recipe (model and fine-tuning settings), since residual
    fine-tuning gives each seed's base model its own adapter."""
    guided = ws.guided_manifest()
    scorer = {k: v for k, v in guided["scorer"].items() if not k.startswith("adapter")}
    out = {"events": sha256_file(ws.interactions_path), "schema": guided["schema_digest"], "scorer": scorer}
    if "adapter" in guided["scorer"]:
        out["finetune"] = read_json(Path(guided["scorer"]["adapter"]) / "finetune_manifest.json")["config"]
    return out


def adapter(ws: Workspace) -> dict[str, Any]:
    """A fine-tuned seed's own adapter: its digest, the base model it learned from, its loss."""
    scorer = ws.guided_manifest()["scorer"]
    tuned = read_json(Path(scorer["adapter"]) / "finetune_manifest.json")
    return {"sha256": scorer.get("adapter_sha256"), "base_model": tuned.get("base_model"),
            "history": tuned["history"], "seconds": tuned["seconds"]}


def _reuse_scores(ws: Workspace, folder: Path) -> None:
    """Seed a new workspace's score cache from the other workspaces of the same dataset: the
    language model's scores do not depend on the seed or the model, and the cache is keyed by
    scorer, schema and text, so the guided stage then scores nothing twice (on Amazon Beauty
    that saves ~7 minutes of one core per seed)."""
    if not folder.is_dir() or (ws.score_cache_dir.exists() and any(ws.score_cache_dir.glob("*.parquet"))):
        return
    for other in sorted(p for p in folder.iterdir() if p.is_dir() and p.resolve() != ws.root.resolve()):
        cache = Workspace.resolve(other).score_cache_dir
        for f in sorted(cache.glob("*.parquet")) if cache.exists() else ():
            ws.score_cache_dir.mkdir(parents=True, exist_ok=True)
            if not (ws.score_cache_dir / f.name).exists():
                shutil.copyfile(f, ws.score_cache_dir / f.name)


def recorded(key: str, k: int) -> bool:
    """Whether seed ``k`` of ``key`` has a record."""
    return all(p.exists() for p in record_paths(key, k))


def pool(key: str, seeds: int, workdir: Path) -> dict[str, Any]:
    """The comparison of ``key``'s recorded seeds, rebuilt from the records alone (the data is
    imported again for the buckets; it must be the data the seeds were trained on)."""
    dataset, model, schema, finetune, reduction, freeze_base = parse_key(key)
    fmt, path, items = DATASETS[dataset]
    ws = Workspace.resolve(workdir / dataset / "data")
    if not ws.interactions_path.exists():
        gerec.import_data(ws, fmt, path, items)
    done = [k for k in range(seeds) if recorded(key, k)]
    if not done:
        raise SystemExit(f"{key}: no seed recorded yet in {RECORDS}")
    runs: dict[str, list[Run]] = {}
    training, records = {}, []
    expected = base_settings(dataset, model)
    for k in done:
        parquet_path, json_path = record_paths(key, k)
        table, record = pq.read_table(parquet_path), read_json(json_path)
        if record["data"] != ws.data_manifest()["final"]:
            raise SystemExit(f"{json_path} was trained on other data ({record['data']}) than "
                             f"{path} imports now ({ws.data_manifest()['final']})")
        trained = {name: v for name, v in record["settings"].items() if name != "seed"}
        if trained != expected:
            raise SystemExit(f"{json_path} was trained with {trained or 'the defaults'}, not this row's base settings "
                             f"({expected or 'the defaults'}): train its seeds again")
        first = records[0] if records else record
        config = next((r["base_config"] for r in records if "base_config" in r), None)  # older records lack it
        if config and record.get("base_config", config) != config:
            changed = sorted(f"{part}.{name}" for part in ("model", "train") for name in config[part]
                             if config[part][name] != record["base_config"][part].get(name))
            raise SystemExit(f"{json_path}: its base model was trained with other effective settings "
                             f"({', '.join(changed)}) than the row's earlier seeds (gerec's defaults changed between "
                             "them): train the row's seeds again")
        if record["inputs"] != first["inputs"]:  # seeds differ in their seed only
            changed = [name for name in record["inputs"] if record["inputs"][name] != first["inputs"].get(name)]
            raise SystemExit(f"{json_path}: its {', '.join(changed)} differ from seed {first['seed_index']}'s: "
                             "the seeds of a row must share their events, schema and scorer")
        users = table.column("user_id").to_numpy()
        for arm in (v for v in VARIANTS if v in record["arms"]):
            a = record["arms"][arm]
            runs.setdefault(arm, []).append(Run(replica(model, k), users, table.column(arm).to_numpy().astype(np.int64),
                                                a["budgeted"], a["shares"]))
            training[f"{arm}/seed{k}"] = a["training"]
        records.append(record)
    seqs = gerec.sequences(ws)
    row = model_row(model, runs, labels_for(ws, seqs, users, "test"), NAMES, N_BOOT, BOOT_SEED)
    doc = results_document(ws, seqs, [row], "test", N_BOOT, BOOT_SEED)
    complete = (len(done) == seeds and not row["budgeted"]
                and all(len(runs.get(v, [])) == seeds for v in compared(dataset)))
    return {"dataset": dataset, "model": model, "seeds": seeds, "recorded_seeds": done, "complete": complete,
            "popularity": doc["popularity"], "row": row, "training": training,
            "settings": expected, "schema": schema, "finetune": finetune or None, "reduction": reduction,
            "freeze_base": freeze_base,
            "stages": {f"seed{r['seed_index']}": r["stages"] for r in records},
            "seed_seconds": {f"seed{r['seed_index']}": r["session_seconds"] for r in records},
            "command": f"python benchmarks/protocol.py --plan {key} --seeds {seeds}",
            "machine": sorted({r["machine"] for r in records}), "date": max(r["date"] for r in records),
            **({"versus_plain": versus_plain(key, done)} if plain_key(key) else {})}


def plain_key(key: str) -> str | None:
    """The row a variant row is held against: a frozen-base row's row that trains the whole model,
    a reduction row's row with the PCA (same schema and scorer), a fine-tuned row's zero-shot row
    (same schema), a schema row's row on the dataset's shipped schema; None for a plain row."""
    for mark in ("~", ":", "+", "@"):
        if mark in key:
            return key.partition(mark)[0]
    return None


def versus_plain(key: str, done: list[int]) -> dict[str, Any] | None:
    """A variant row's score-dependent arms (another schema, a fine-tuned scorer) against the same
    arms of its plain row, on the seeds both recorded: per user, metrics averaged over those
    seeds, then the paired bootstrap. The two rows' base models are the same runs (deterministic
    with a seed), which is checked."""
    plain = plain_key(key)
    seeds = [k for k in done if plain and recorded(plain, k)]
    if not seeds:
        return None
    tables = [(pq.read_table(record_paths(key, k)[0]), pq.read_table(record_paths(plain, k)[0])) for k in seeds]
    same_base = all(a["user_id"].equals(b["user_id"]) and a["base"].equals(b["base"]) for a, b in tables)
    rng = np.random.default_rng(BOOT_SEED)
    idx = rng.integers(0, len(tables[0][0]), size=(N_BOOT, len(tables[0][0])))
    out: dict[str, Any] = {"versus": plain, "seeds": seeds, "same_base": same_base, "arms": {}}

    def per_user(i: int, arm: str) -> dict[str, np.ndarray]:  # i: 0 this row, 1 the plain row
        return {name: np.mean([metrics_from_ranks(torch.from_numpy(t[i][arm].to_numpy().astype(np.int64)))[name]
                               .numpy() for t in tables], axis=0) for name in ("NDCG@10", "MRR@10")}

    # a reduction row changes the reduced-only control too: its refined arm is also held against
    # the plain row's reduced-only arm, the control every other row is judged by
    pairs = [(arm, arm) for arm in ("refined", "shuffled", "nouser")]
    if parse_key(key).reduction != "pca":
        pairs += [("reduced", "reduced"), ("refined", "reduced")]
    for arm, other in pairs:
        if not all(arm in a.column_names and other in b.column_names for a, b in tables):
            continue
        mine, theirs = per_user(0, arm), per_user(1, other)
        out["arms"][arm if arm == other else f"{arm} vs {other}"] = {
            name: {"row": float(mine[name].mean()), "plain": float(theirs[name].mean()),
                   "change": relative_change(mine[name], theirs[name], idx).to_dict()} for name in ("NDCG@10", "MRR@10")}
    return out


def summary(runs: dict[str, Any]) -> None:
    """NDCG@10 per arm (mean over seeds, seed sd) and the headline, one line per row."""
    for key, r in runs.items():
        row = r["row"]
        arms = "  ".join(f"{v} {row['variants'][v]['NDCG@10']['mean']:.4f}" for v in VARIANTS if v in row["variants"])
        head = row.get("headline")
        gain = (f"refined vs {head['control']} {head['gain']['NDCG@10']['mean']:+.1%} "
                f"[{head['gain']['NDCG@10']['low']:+.1%}, {head['gain']['NDCG@10']['high']:+.1%}]") if head else ""
        print(f"{key:<22} {'complete' if r['complete'] else 'partial':<9} pop {r['popularity']['NDCG@10']['mean']:.4f}"
              f"  {arms}  {gain}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", default=",".join(PLAN),
                        help="rows in order: dataset/model[@schema][+direct|+residual][:reduction][~frozen] (another "
                             "attribute schema; scores from a LoRA fine-tuned scorer; another reduction of the base "
                             "table; with :none, arms that train only what refinement adds to the base model)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per row (0 .. N-1)")
    parser.add_argument("--only-seed", type=int, default=None, help="train and record this one seed of each row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gerec-protocol")
    args = parser.parse_args()
    set_threads(args.threads)
    console = Console(stderr=True)
    for key in args.plan.split(","):
        parse_key(key)  # a clear error before any training
        runs = read_json(RESULTS)["runs"] if RESULTS.exists() else {}
        legacy = "recorded_seeds" not in runs.get(key, {"recorded_seeds": []})  # one workspace, before records
        if legacy and runs[key]["complete"] and runs[key]["seeds"] >= args.seeds and args.only_seed is None:
            print(f"{key}: complete (one workspace, before per-seed records); --only-seed 0 starts it again per seed")
            continue
        seeds = [args.only_seed] if args.only_seed is not None else range(args.seeds)
        older = {k: older_defaults(key, k) for k in seeds if recorded(key, k)}
        if any(older.values()):  # said, not fixed: such seeds are skipped, and retraining them is the user's call
            print(f"{key}: recorded with base models off today's defaults: "
                  + "; ".join(f"seed {k}: {', '.join(o)}" for k, o in older.items() if o)
                  + f". To train the row on today's defaults, delete {record_paths(key, 0)[1].parent}/seed* "
                  "(a row's seeds must share their base settings) and run it again")
        for k in seeds:
            if not recorded(key, k):
                run_seed(key, k, args.workdir, args.device, console)
        result = pool(key, max(args.seeds, (args.only_seed or 0) + 1), args.workdir)
        runs = read_json(RESULTS)["runs"] if RESULTS.exists() else {}  # re-read: another sweep may have written
        if legacy:  # kept beside the per-seed row that replaces it
            runs[f"{key} (one workspace)"] = runs.pop(key)
        runs[key] = {**result, "threads": args.threads}
        write_json(RESULTS, {"runs": runs})
        summary({key: runs[key]})


if __name__ == "__main__":
    main()
