"""Print the Markdown tables of benchmarks/README.md from the JSON results (no hand copying).

Run: python benchmarks/tables.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import protocol as protocol_records  # this folder's sweep: which seeds trained off today's defaults

from gerec.evaluation.compare import change_text, table_rows

RESULTS = Path(__file__).parent / "results"

# What each results file holds and the commands that wrote it (README figures point here).
SOURCES = {
    "import_speed.json": ("import seconds per dataset", "python benchmarks/import_speed.py --repeats 3"),
    "base_models.json": ("base-model quality, seconds per epoch",
                         "python benchmarks/base_models.py --datasets ml-100k --threads 2; "
                         "… --datasets amazon-beauty,amazon-games --set max_minutes=9"),
    "guided_quality.json": ("genre ROC-AUC (ML-100K), ground-truth correlation (synthetic)",
                            "python benchmarks/guided_quality.py --finetune --threads 2"),
    "encoder_throughput.json": ("encoder scorer items/s", "python benchmarks/encoder_throughput.py --threads 2"),
    "refined_quality.json": ("refined vs base vs reduced-only, 3 models × 3 datasets",
                             "python benchmarks/refined_quality.py --datasets ml-100k --threads 2; "
                             "… --datasets amazon-beauty,amazon-games --set max_minutes=3"),
    "feature_store.json": ("ingest / materialize rows/s, online-read latency, SQLite vs Redis",
                           "python benchmarks/feature_store.py --items 100000 [--online redis://… --registry "
                           "postgresql://…]"),
    "serving.json": ("FAISS vs brute force q/s, id selectors vs over-fetch, HTTP latency under load with a hot swap",
                     "gerec --workspace /tmp/servews run --set epochs=3; python benchmarks/serving.py "
                     "--workspace /tmp/servews --requests 10000 [--workers 2 --parts load]"),
    "scale.json": ("Ray vs local scoring items/s, torchrun 2 processes vs 1 s/epoch (local mode)",
                   "python benchmarks/scale.py --parts scoring,ddp"),
    "end_to_end.json": ("`gerec run` wall time per stage, its comparison, the re-run",
                        "python benchmarks/end_to_end.py --modes default,quick --threads 2; … --modes ml-100k --threads 1"),
    "hostile.json": ("bad inputs through the CLI (clean errors vs tracebacks), kill -9 during `gerec run`",
                     "python benchmarks/hostile.py --kills 12"),
    "time_to_quality.json": ("base models to convergence: curves, seconds to best, memory, popularity",
                             "python benchmarks/time_to_quality.py --datasets … --models … --label … --set …"),
    "protocol.json": ("the full protocol: every arm, 3 seeds, converged; buckets, attribution",
                      "python benchmarks/protocol.py --plan … --seeds 3 --threads 1"),
    "realism.json": ("shape of the real datasets and the synthetic default", "python benchmarks/realism.py"),
    "cold_items.json": ("where held-out items rank, per arm", "python benchmarks/cold_items.py --workspace …"),
    "schema_evidence.json": ("a richer schema's attributes against each dataset's labels (ML-100K genres, year, "
                             "ratings, ages; Amazon title keywords, names, purchases)",
                             "python benchmarks/schema_evidence.py --dataset … --threads 1"),
    "finetune_lambda.json": ("LoRA fine-tuning (direct, residual): genre ROC-AUC and the recommendation loss per format weight λ",
                             "python benchmarks/finetune_lambda.py --objective {direct,residual} --weights … [--epochs 5 --lr 3e-3] "
                             "--threads 1"),
}


def _load(name: str) -> dict | None:
    """A results file's JSON, or None when that benchmark has not been run."""
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _values(obj: object, key: str) -> set[str]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(obj, dict):
        found = {str(obj[key])} if key in obj and not isinstance(obj[key], (dict, list)) else set()
        return found.union(*(_values(v, key) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_values(v, key) for v in obj))
    return set()


def provenance() -> None:
    print("| results file | figures | command | machine | date |")
    print("|---|---|---|---|---|")
    for name, (what, command) in SOURCES.items():
        doc = _load(name)
        if doc is None:
            continue
        print(f"| `{name}` | {what} | `{command}` | {'; '.join(sorted(_values(doc, 'machine')))} | "
              f"{', '.join(sorted(_values(doc, 'date')))} |")


def end_to_end() -> None:
    doc = _load("end_to_end.json")
    if doc is None:
        return
    print("\n| command | wall s | re-run s | base NDCG@10 | reduced-only | refined | refined vs base | refined vs reduced-only |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in doc["runs"].values():
        v, g = r["variants"], r["gains"]
        print(f"| `{r['command']}` | {r['wall_seconds']:.0f} | {r['rerun_wall_seconds']:.0f} | "
              f"{v['base']['NDCG@10']['mean']:.4f} | {v['reduced']['NDCG@10']['mean']:.4f} | "
              f"{v['refined']['NDCG@10']['mean']:.4f} | {change_text(g['refined_vs_base']['NDCG@10'])} | "
              f"{change_text(g['refined_vs_reduced']['NDCG@10'])} |")


def base_models() -> None:
    doc = _load("base_models.json")
    if doc is None:
        return
    runs = doc["runs"]
    print("| dataset | model | MRR@10 | Recall@10 | NDCG@10 | best / run epochs | s / epoch | training s | stopped by |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in runs.values():
        t = r["test"]
        print(f"| {r['dataset']} | {r['model']} | {t['MRR@10']:.4f} | {t['Recall@10']:.4f} | {t['NDCG@10']:.4f} | "
              f"{r['best_epoch']} / {r['epochs']} | {r['seconds_per_epoch']:.1f} | {r['train_seconds']:.0f} | "
              f"{r.get('stopped', '')} |")


def guided_quality() -> None:
    r = _load("guided_quality.json")
    if r is None:
        return
    for name, label in (("ml100k", "ML-100K: item-score ROC-AUC against genre flags"),
                        ("synthetic", "Synthetic default: Pearson correlation with the ground-truth attribute")):
        d = r[name]
        tuned = "finetuned" in d
        print(f"\n{label} ({d['items']:,} items; encoder {d['items_per_second']} items/s"
              + (f"; one fine-tuning epoch {d['finetune']['epoch_seconds']:.0f} s" if tuned else "") + ")\n")
        print("| attribute | zero-shot |" + (" fine-tuned |" if tuned else ""))
        print("|---|---:|" + ("---:|" if tuned else ""))
        for key, value in d["zero_shot"].items():
            print(f"| {key} | {value:.3f} |" + (f" {d['finetuned'][key]:.3f} |" if tuned else ""))


def schema_evidence() -> None:
    doc = _load("schema_evidence.json")
    if doc is None:
        return
    for r in doc["runs"].values():
        print(f"\n`{r['schema']}` on {r['dataset']} ({len(r['attributes'])} attributes; {r['date']})\n")
        print("| attribute | label | measure | value |")
        print("|---|---|---|---:|")
        for name, e in r["attributes"].items():
            print(f"| {name} | {e['label'] or 'none in the data'} | {e['measure'] or '—'} | "
                  f"{'—' if e['value'] is None else format(e['value'], '.3f')} |")


def finetune_lambda() -> None:
    r = _load("finetune_lambda.json")
    if r is None:
        return
    names = list(r["runs"]["zero-shot"]["auc"])
    print(f"\nML-100K genre ROC-AUC and train cross-entropy per format weight λ (AUC floor {r['floor']})\n")
    print("| scorer | " + " | ".join(n.split(" ~ ")[0] for n in names) + " | with the LM | base alone | LM weight | date |")
    print("|---|" + "---:|" * (len(names) + 3) + "---|")
    for label, run in r["runs"].items():
        last = run.get("history", [{}])[-1]
        if "base_rec" in last:  # residual: the base model's logits plus the LM's term
            losses = f"{last['rec']:.4f} | {last['base_rec']:.4f} | {last['weight']:.3f}"
        else:  # direct: the LM's scores alone rank the items; zero-shot: no loss
            losses = f"{last['rec']:.4f} (LM alone) | — | —" if "rec" in last else "— | — | —"
        print(f"| {label} | " + " | ".join(f"{run['auc'][n]:.3f}" for n in names) + f" | {losses} | {run['date']} |")


def refined_quality() -> None:
    doc = _load("refined_quality.json")
    if doc is None:
        return
    runs = doc["runs"]
    metrics = ("MRR@10", "Recall@10", "NDCG@10")
    print("\n| dataset | model | variant | " + " | ".join(metrics) + " | epochs run | stopped by |")
    print("|---|---|---|" + "---:|" * len(metrics) + "---:|---|")
    for r in runs.values():  # each run has the shape of one row of gerec.evaluation.compare's results
        extra = [[str(r["epochs"][v]), r["stopped"][v]] for v in r["variants"]] + [["", ""]] * len(r["gains"])
        for cells, more in zip(table_rows({"dataset": r["dataset"], "rows": [r]}, metrics), extra):
            print("| " + " | ".join(cells + more) + " |")


def feature_store() -> None:
    r = _load("feature_store.json")
    if r is None:
        return
    print("\n| backend | items | ingest s | materialize s | rows/s | online read 1 entity (median / p99 ms) | "
          "100 entities (median / p99 ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    before = r.get("before_compact_views")
    rows = [("before compact views: online sqlite, registry file", before)] if before else []
    for backend, run in [*rows, *r["runs"].items()]:
        one, hundred = run["online_read"]["1_entities"], run["online_read"]["100_entities"]
        print(f"| {backend} | {run['items']:,} | {run['ingest_seconds']:.2f} | {run['materialize_seconds']:.2f} | "
              f"{run['materialized_rows_per_second']:,} | {one['median_ms']:.2f} / {one['p99_ms']:.2f} | "
              f"{hundred['median_ms']:.2f} / {hundred['p99_ms']:.2f} |")


def serving() -> None:
    r = _load("serving.json")
    if r is None:
        return
    print("\n| vectors | items | FAISS flat q/s | NumPy q/s | FAISS / NumPy | same top-10 |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in r["search"]:
        print(f"| {s['vectors']} | {s['items']:,} | {s['faiss_qps']:,.0f} | {s['numpy_qps']:,.0f} | {s['ratio']:.2f}× | "
              f"{s['same_top10']:.0%} |")
    print("\n| index | items | seen items excluded | id selector ms (p99) | over-fetch ms (p99) | over-fetch / selector "
          "| same top-10 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for f in r.get("filters", []):
        print(f"| {f['kind']} | {f['items']:,} | {f['seen']} | {f['selector_ms']:.3f} ({f['selector_p99_ms']:.3f}) | "
              f"{f['over_fetch_ms']:.3f} ({f['over_fetch_p99_ms']:.3f}) | {f['over_fetch_vs_selector']:.2f}× | "
              f"{f['same_top10']:.0%} |")
    print("\n| server processes | concurrency | requests | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
          "requests/s | hot swap (to, s) | index versions answered |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for workers, run in r.get("load_by_workers", {}).items():
        for load in run["levels"]:
            swap = f"{load['swap']['to']}, {load['swap']['seconds']}" if load.get("swap") else "—"
            versions = " / ".join(str(n) for n in load["index_versions"].values())
            print(f"| {workers} | {load['concurrency']} | {load['requests']:,} | {load['errors']} | {load['p50_ms']:.1f} | "
                  f"{load['p90_ms']:.1f} | {load['p99_ms']:.1f} | {load['p99.9_ms']:.1f} | {load['max_ms']:.1f} | "
                  f"{load['requests_per_second']:.0f} | {swap} | {versions} |")


def scale() -> None:
    r = _load("scale.json")
    if r is None:
        return
    print(f"\n{r['mode']}.\n")
    if "scoring" in r:
        print("| scoring engine (Amazon Games items) | workers × threads | items | seconds | items/s | same scores |")
        print("|---|---|---:|---:|---:|---|")
        for s in r["scoring"]:
            same = s.get("same_scores")
            print(f"| {s['engine']} | {s['workers']} × {s['threads_per_worker']} | {s['items']:,} | "
                  f"{s['seconds']:.0f} | {s['items_per_second']:.0f} | {'' if same is None else same} |")
    if "ddp" in r:
        print("\n| SASRec on Amazon Beauty | epochs | s/epoch | wall s | valid NDCG@10 |")
        print("|---|---:|---:|---:|---:|")
        for d in r["ddp"]:
            print(f"| {d['run']} | {d['epochs']} | {d['seconds_per_epoch']:.1f} | {d['wall_seconds']:.0f} | "
                  f"{d['valid_NDCG@10']:.4f} |")


def hostile() -> None:
    r = _load("hostile.json")
    if r is None:
        return
    c = r["inputs"]["counts"]
    print("\n| inputs tried | clean one-line errors | Click usage errors | succeeded | tracebacks |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {c['tried']} | {c['clean error']} | {c['usage error']} | {c['succeeded']} | {c['traceback']} |")
    k = r["kill9"]
    print(f"\n`kill -9` of `gerec run --quick` {k['kills']} times (after "
          f"{min(k['killed_after_seconds'])}–{max(k['killed_after_seconds'])} s), then one run to the end: "
          f"{'completed' if k['final_run_ok'] else 'FAILED'}, results "
          f"{'equal to' if k['results_equal_uninterrupted'] else 'DIFFERENT from'} an uninterrupted run's, "
          f"{len(k['debris_left'])} temporary folders left.")


def time_to_quality() -> None:
    r = _load("time_to_quality.json")
    if r is None:
        return
    print("\n| dataset | model | settings | seed | test MRR@10 | Recall@10 | NDCG@10 | popularity NDCG@10 | best / run "
          "epochs | s/epoch | s to best | peak MB | stopped |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in r["runs"].values():
        t = run["test"]
        print(f"| {run['dataset']} | {run['model']} | {run['label']} | {run['seed']} | {t['MRR@10']:.4f} | "
              f"{t['Recall@10']:.4f} | {t['NDCG@10']:.4f} | {run['popularity']['test']['NDCG@10']:.4f} | "
              f"{run['best_epoch']} / {run['epochs']} | {run['seconds_per_epoch']:.1f} | {run['seconds_to_best'] or 0:.0f} | "
              f"{run['peak_rss_mb']} | {run['stopped']} |")
    seeded: dict[tuple[str, str, str], list[dict]] = {}
    for run in r["runs"].values():
        seeded.setdefault((run["dataset"], run["model"], run["label"]), []).append(run)
    print("\nSettings run with more than one seed: test metrics as mean ± standard deviation over the seeds.\n")
    print("| dataset | model | settings | seeds | MRR@10 | NDCG@10 | best epochs | stopped by early stopping |")
    print("|---|---|---|---:|---:|---:|---|---:|")
    for (dataset, model, label), runs in seeded.items():
        if len(runs) > 1:
            runs = sorted(runs, key=lambda run: run["seed"])
            cells = [_spread([run["test"][m] for run in runs]) for m in ("MRR@10", "NDCG@10")]
            early = sum(run["stopped"] == "early stopping" for run in runs)
            print(f"| {dataset} | {model} | {label} | {len(runs)} | {cells[0]} | {cells[1]} | "
                  f"{' / '.join(str(run['best_epoch']) for run in runs)} | {early} of {len(runs)} |")


def _spread(values: list[float]) -> str:
    """``mean ± sd`` (sample standard deviation) of a few seeds' figures."""
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def protocol() -> None:
    r = _load("protocol.json")
    if r is None:
        return
    for key, run in r["runs"].items():
        row = run["row"]
        doc = {"dataset": run["dataset"], "popularity": run["popularity"], "rows": [row]}
        seeds = sorted({len(s["runs"]) for s in row["seeds"].values()})
        print(f"\n**{key}** ({'complete' if run['complete'] else 'partial'}: seeds per arm {seeds}; "
              f"{run['date']})\n")
        if run.get("superseded"):
            print(f"Superseded: {run['superseded']}\n")
        older: dict[str, list[int]] = {}  # what differs -> the seeds it differs for
        for k in (k for k in run.get("recorded_seeds", []) if protocol_records.recorded(key, k)):
            if changed := protocol_records.older_defaults(key, k):
                older.setdefault(", ".join(changed), []).append(k)
        if older:
            print("Base models off today's defaults: "
                  + "; ".join(f"seeds {ks}: {changed}" for changed, ks in older.items()) + "\n")
        print("| dataset | model | arm | MRR@10 | Recall@10 | NDCG@10 |")
        print("|---|---|---|---:|---:|---:|")
        for cells in table_rows(doc, ["MRR@10", "Recall@10", "NDCG@10"]):
            print("| " + " | ".join(cells) + " |")
        head = row.get("headline")
        if head:
            gain = f"refined_vs_{head['control']}"
            print(f"\nNDCG@10 by bucket, refined vs {head['control']} (the strongest control):\n")
            print("| bucket | share of test events | refined | control | change [95% interval] |")
            print("|---|---:|---:|---:|---:|")
            for dimension, buckets in row["breakdown"].items():
                for name, b in buckets.items():
                    if b["users"]:
                        v = b["variants"]
                        print(f"| {dimension} {name} | {b['share']:.1%} | {v['refined']['NDCG@10']:.4f} | "
                              f"{v[head['control']]['NDCG@10']:.4f} | {change_text(b['gains'][gain]['NDCG@10'])} |")
        for arm, share in row.get("attribution", {}).items():
            top = sorted(share["importance"].items(), key=lambda kv: -kv[1])[:3]
            print(f"\n{arm}: attribute share of a top-{share['k']} score {share['mean_share']:.1%} (median "
                  f"{share['median_share']:.1%}); most important {', '.join(f'{a} {v:.3f}' for a, v in top)}")
        epochs = {k: f"{t['best_epoch']}/{t['epochs']} ({t['stopped']})" for k, t in run["training"].items()}
        print("\nbest/run epochs: " + "; ".join(f"{k} {v}" for k, v in epochs.items()))
        valid: dict[str, list[float]] = {}  # only newer records carry it
        for k, t in run["training"].items():
            if t.get("valid"):
                valid.setdefault(k.split("/")[0], []).append(t["valid"]["NDCG@10"])
        if valid:
            print("\nvalidation NDCG@10 at the best epoch (mean over the seeds that record it): "
                  + "; ".join(f"{arm} {statistics.mean(v):.4f} ({len(v)})" for arm, v in valid.items()))
        versus = run.get("versus_plain")
        if versus:
            this = ("~frozen" if run.get("freeze_base") else f":{run['reduction']}" if run.get("reduction", "pca") != "pca"
                    else f"+{run['finetune']}" if run.get("finetune") else f"@{run['schema']}")
            print(f"\nagainst the same arms of {versus['versus']} (seeds {versus['seeds']}; the same base models: "
                  f"{'yes' if versus['same_base'] else 'NO'}):\n")
            print(f"| arm | NDCG@10 {this} | {versus['versus']} | change [95% interval] | MRR@10 change |")
            print("|---|---:|---:|---:|---:|")
            for arm, m in versus["arms"].items():
                print(f"| {arm} | {m['NDCG@10']['row']:.4f} | {m['NDCG@10']['plain']:.4f} | "
                      f"{change_text(m['NDCG@10']['change'])} | {change_text(m['MRR@10']['change'])} |")


def realism() -> None:
    r = _load("realism.json")
    if r is None:
        return
    from gerec.data.stats import SHAPE_LABELS, shape_value

    names = list(r["datasets"])
    print("\n| statistic | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for key, label in SHAPE_LABELS.items():
        print(f"| {label} | " + " | ".join(shape_value(key, r["datasets"][n][key]) for n in names) + " |")


def cold_items() -> None:
    r = _load("cold_items.json")
    if r is None:
        return
    print("\n| run | arm | median rank (catalogue) | median rank among cold items | cold target in the cold top 10 |")
    print("|---|---|---:|---:|---:|")
    for key, run in r["runs"].items():
        for arm, a in {**run["arms"], "random": run["random"]}.items():
            print(f"| {key} | {arm} | {a.get('median_rank', '—')} of {run['catalogue']} | "
                  f"{a['median_rank_among_cold']} of {run['cold_items']} | {a['hit_at_10_among_cold']:.1%} |")


if __name__ == "__main__":
    provenance()
    protocol()
    cold_items()
    realism()
    hostile()
    time_to_quality()
    end_to_end()
    base_models()
    guided_quality()
    schema_evidence()
    finetune_lambda()
    refined_quality()
    feature_store()
    serving()
    scale()
