"""The report's text: one list of blocks (headings, paragraphs, tables, figures), two renderings.

HTML embeds each PNG as a data URI so the file is self-contained (mail it, open it
offline); Markdown links the PNGs in ``figures/`` beside it.
"""

from __future__ import annotations

import base64
import html as html_lib
from pathlib import Path
from typing import Any

from gerec.data.stats import SHAPE_LABELS, reference_shapes, shape_value, within_reference
from gerec.evaluation.compare import change_text, defined, table_rows
from gerec.names import LABELS

HEADLINE = ("MRR@10", "Recall@10", "NDCG@10")

# (kind, payload): ("h2" | "h3", str) | ("p", str) | ("table", (header, rows)) | ("figure", (key, caption)) | ("list", [str])
Block = tuple[str, Any]


def _reasons(item: dict[str, Any]) -> str:
    reasons = ", ".join(f"{r['attribute']} {r['contribution']:+.2f}" for r in item.get("reasons", []))
    return reasons or "latent part only"


def summary(results: dict[str, Any], metric: str = "NDCG@10") -> str:
    """What was found, in plain words and with the numbers: per model, refined against the
    strongest control, whether the language model's *content* mattered (shuffled scores), and
    how far above popularity the models are."""
    sentences = []
    floor = results.get("popularity", {}).get(metric, {}).get("mean")
    for row in results["rows"]:
        variants, headline = row["variants"], row.get("headline")
        if not headline or "refined" not in variants:
            continue
        control, gain = headline["control"], headline["gain"][metric]
        refined = variants["refined"][metric]["mean"]
        verdict = ("better than" if defined(gain) and gain["low"] > 0 else
                   "worse than" if defined(gain) and gain["high"] < 0 else "not distinguishable from")
        text = (f"With {row['model']}, the refined model ({metric} {refined:.4f}) is {verdict} the strongest control, "
                f"{LABELS[control]} ({variants[control][metric]['mean']:.4f}): {change_text(gain)} with a 95% paired "
                "interval.")
        shuffled = row["gains"].get("refined_vs_shuffled", {}).get(metric)
        if shuffled:
            wins = defined(gain) and gain["low"] > 0
            content = ("so the language model's scores help through their content, not only as extra dimensions"
                       if defined(shuffled) and shuffled["low"] > 0 and wins else
                       "so their content is worth something against permuted scores, yet not enough to beat the "
                       "strongest control" if defined(shuffled) and shuffled["low"] > 0 else
                       "so these figures do not show that the content of the language model's scores matters")
            text += f" Against the same model with the scores shuffled across items and users: {change_text(shuffled)}, {content}."
        share = (row.get("attribution") or {}).get("refined")
        if share:
            text += f" The attribute dimensions carry {share['mean_share']:.0%} of a top-{share['k']} score on average."
        sentences.append(text)
    if floor is not None:
        sentences.append(f"The most-popular list scores {floor:.4f}.")
    return " ".join(sentences)


def _shape(shape: dict[str, float] | None) -> list[Block]:
    """The dataset's shape (long tail, new items, history lengths) beside the real datasets'."""
    if not shape:
        return []
    refs = reference_shapes()
    inside = within_reference(shape)
    rows = [[label, shape_value(key, shape[key]), *(shape_value(key, r[key]) for r in refs.values()),
             "yes" if inside[key] else "no"] for key, label in SHAPE_LABELS.items()]
    return [("p", "Its shape beside real datasets (benchmarks/realism.py): is it long-tailed, are test items "
                  "new or rare, how long are histories?"),
            ("table", (["", "this dataset", *refs, "within their range"], rows))]


def blocks(data: dict[str, Any]) -> list[Block]:
    """The report's content, independent of how it is rendered."""
    stats, results = data["stats"], data["results"]
    final, split = stats["final"], stats["split"]
    out: list[Block] = [
        ("p", f"Workspace {data['workspace']} · gerec {data['gerec_version']} · generated {data['generated']}"),
        ("h2", "What was found"),
        ("p", summary(results)),
        ("h2", "Dataset"),
        ("table", (["users", "items", "interactions", "density", "median length", "train / valid / test events"],
                   [[f"{final['users']:,}", f"{final['items']:,}", f"{final['interactions']:,}",
                     f"{final['density']:.4%}", str(final["sequence_length"]["p50"]),
                     f"{split['train']:,} / {split['valid']:,} / {split['test']:,}"]])),
        ("p", f"Split: {split['protocol']}. Every metric ranks the full catalogue with the user's history excluded."),
        *_shape(stats.get("shape")),
        ("h2", "Results"),
        ("p", "Mean over users with a 95% bootstrap interval; relative changes come from a paired bootstrap "
              "(the same resampled users for both variants). Reduced-only is the ablation without the language "
              "model: same width, its attribute dimensions trained from random."),
        ("table", (["dataset", "model", "variant", *HEADLINE], table_rows(results, HEADLINE))),
        ("figure", ("metrics", "Headline metrics with 95% intervals.")),
        ("figure", ("buckets", "Where the gain is: refined vs the strongest control (the headline) per bucket of "
                               "the test item's popularity in training and of the user's history length, with paired "
                               "95% intervals; a bucket without a defined gain is left out.")),
        ("figure", ("training", "Training curves: validation NDCG@10 (early stopping watches it) and loss.")),
    ]
    if data["guided"]:
        scorer = data["guided"]["scorer"]
        out += [("h2", "Attribute scores"),
                ("p", f"{data['guided']['items']['rows']:,} items and {data['guided']['users']['rows']:,} users scored "
                      f"1–9 on {len(data['guided']['attributes'])} attributes by {scorer.get('backend')} "
                      f"{scorer.get('model')}."),
                ("figure", ("scores", "Distribution of item scores per attribute."))]
    if data["recovery"]:
        mean = sum(data["recovery"].values()) / len(data["recovery"])
        out += [("h2", "Recovering the ground truth (synthetic data)"),
                ("p", f"The synthetic items carry known attribute values; the language model read only their texts. "
                      f"Mean correlation of its scores with the truth: {mean:.2f}."),
                ("table", (["attribute", "Pearson r"], [[a, f"{r:+.3f}"] for a, r in data["recovery"].items()])),
                ("figure", ("recovery", "Correlation of each attribute's scores with the ground truth."))]
    if data["cases"]:
        out += [("h2", "Case studies"),
                ("p", f"Recommendations from index {data['index']['source']['model_dir']} for a few users. Each "
                      "score is split exactly into per-attribute contributions (query × item on that attribute's "
                      "dimension) and a latent remainder.")]
    for case in data["cases"]:
        out.append(("h3", f"User {case['user_id']}"))
        if case["favourite_genre"]:
            out.append(("p", f"Ground truth: favourite genre {case['favourite_genre']}."))
        out.append(("p", "Recent history, oldest first: " + "; ".join(case["history"])))
        if case["profile"]:
            ranked = sorted(case["profile"].items(), key=lambda kv: kv[1], reverse=True)
            out.append(("p", "Language-model profile (1–9): highest " + ", ".join(f"{a} {v:.1f}" for a, v in ranked[:3])
                        + "; lowest " + ", ".join(f"{a} {v:.1f}" for a, v in ranked[-2:]) + "."))
        out.append(("table", (["#", "item", "score", "driven by", "latent"],
                              [[str(r), item["title"], f"{item['score']:.3f}", _reasons(item), f"{item['latent']:+.2f}"]
                               for r, item in enumerate(case["items"], 1)])))
        out.append(("figure", (f"case-{case['user_id']}", f"User {case['user_id']}: what each recommendation's score is made of.")))
    return out


def html(data: dict[str, Any], figures: dict[str, Path]) -> str:
    """A self-contained HTML page (figures inlined as base64 PNGs)."""
    esc = html_lib.escape
    body = [f"<h1>gerec report: {esc(data['results']['dataset'])}</h1>"]
    for kind, payload in blocks(data):
        if kind in ("h2", "h3"):
            body.append(f"<{kind}>{esc(payload)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{esc(payload)}</p>")
        elif kind == "table":
            header, rows = payload
            body.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
                        + "</tbody></table>")
        elif kind == "figure" and payload[0] in figures:
            key, caption = payload
            data_uri = base64.b64encode(figures[key].read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data_uri}" alt="{esc(caption)}">'
                        f"<figcaption>{esc(caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left}th{background:#f2f2f2}img{max-width:100%}figcaption{color:#555;font-size:0.9em}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gerec report: "
            f"{esc(data['results']['dataset'])}</title><style>{style}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def markdown(data: dict[str, Any], figures: dict[str, Path]) -> str:
    """The same report in Markdown, figures linked by relative path."""
    lines = [f"# gerec report: {data['results']['dataset']}", ""]
    for kind, payload in blocks(data):
        if kind in ("h2", "h3"):
            lines += ["#" * int(kind[1]) + f" {payload}", ""]
        elif kind == "p":
            lines += [payload, ""]
        elif kind == "table":
            header, rows = payload
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows] + [""]
        elif kind == "figure" and payload[0] in figures:
            key, caption = payload
            lines += [f"![{caption}]({figures[key].as_posix()})", ""]
    return "\n".join(lines)
