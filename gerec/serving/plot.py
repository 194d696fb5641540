"""A bar chart of one score's per-attribute contributions (matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerec.artifacts import atomic_file


def contribution_chart(answer: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = sorted(answer["attributes"].items(), key=lambda kv: kv[1])
    names = [n for n, _ in parts] + ["latent remainder"]
    values = [v for _, v in parts] + [answer["latent"]]
    colors = ["#2a9d8f" if v >= 0 else "#e76f51" for v in values[:-1]] + ["#999999"]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, values, color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the score")
    ax.set_title(f"{answer['title']} (item {answer['item_id']}): score {answer['score']:.3f}", fontsize=10)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
