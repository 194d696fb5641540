"""`gerec recommend | similar | explain | serve`: answers with per-attribute reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from gerec.names import DEFAULT_INDEX
from gerec_cli.common import configure_threads, console, device, err_console, print_json, workspace

IndexOption = Annotated[str, typer.Option("--index", help="Index name (see `gerec index build`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]


def _history(text: Optional[str]) -> Optional[list[int]]:
    from gerec.serving.recommender import RequestError

    if text is None:
        return None
    ids = [x for x in text.replace(" ", "").split(",") if x]
    if not ids or not all(x.isascii() and x.isdigit() for x in ids):
        raise RequestError(f"--history must be comma-separated item ids (digits 0-9), got '{text}'")
    return [int(x) for x in ids]


def _recommender(ctx: typer.Context, index: str) -> Any:
    from gerec.steps.recommend import load_recommender

    configure_threads(ctx)
    return load_recommender(workspace(ctx), index, device(ctx))


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def items_table(title: str, items: list[dict[str, Any]], reasons_key: str) -> Table:
    """Ranked items with their score and the attributes behind each (recommend, similar, gerec run)."""
    table = Table(title=title)
    for col in ("#", "item", "title", "score", reasons_key):
        table.add_column(col, justify="right" if col in ("#", "item", "score") else "left")
    for rank, item in enumerate(items, 1):
        reasons = item.get(reasons_key) or []
        text = ", ".join(f"{r['attribute']} {r['contribution']:+.2f}" if isinstance(r, dict) else r for r in reasons)
        score = "" if item["score"] is None else f"{item['score']:.3f}"
        table.add_row(str(rank), str(item["item_id"]), item["title"], score, text)
    return table


def recommend(
    ctx: typer.Context,
    user: Annotated[Optional[int], typer.Option(help="A user id (history from the feature store).")] = None,
    history: Annotated[Optional[str], typer.Option(help="Item ids 'i1,i2,i3', oldest first: a new user.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
    index: IndexOption = DEFAULT_INDEX,
    json_out: JsonOption = False,
) -> None:
    """Top-k items for a user (or a history), each with the attributes that drove it."""
    from gerec.serving.answers import recommendations

    answer = recommendations(_recommender(ctx, index), user_id=user, history=_history(history), k=k)
    if json_out:
        print_json(answer)
        return
    who = f"user {user}" if user is not None and not answer["cold_start"] else "a new user"
    note = " (unknown user, no history: most popular items)" if answer.get("fallback") else ""
    console.print(items_table(f"recommendations for {who}{note}", answer["items"], "reasons"))


def similar(
    ctx: typer.Context,
    item: Annotated[int, typer.Option(help="An item id.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
    index: IndexOption = DEFAULT_INDEX,
    json_out: JsonOption = False,
) -> None:
    """Nearest items by the model's inner product, with the attributes they share."""
    from gerec.serving.answers import similar as similar_items

    answer = similar_items(_recommender(ctx, index), item, k)
    if json_out:
        print_json(answer)
        return
    console.print(items_table(f"items like {item}: {answer['title']}", answer["items"], "shared"))


def explain(
    ctx: typer.Context,
    item: Annotated[int, typer.Option(help="The item to explain.")],
    user: Annotated[Optional[int], typer.Option(help="A user id.")] = None,
    history: Annotated[Optional[str], typer.Option(help="Item ids 'i1,i2,i3' instead of a user.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Also save a bar chart of the contributions (PNG).")] = None,
    index: IndexOption = DEFAULT_INDEX,
    json_out: JsonOption = False,
) -> None:
    """One (user, item) score split into per-attribute contributions and the latent remainder."""
    if plot is not None and (plot.is_dir() or plot.suffix.lower() != ".png"):
        from gerec.errors import GerecError

        raise GerecError(f"--plot {plot}: give a .png file name (not a folder)")
    answer = _recommender(ctx, index).explain(user, item, history=_history(history))
    if plot is not None:
        from gerec.serving.plot import contribution_chart

        contribution_chart(answer, plot)
    if json_out:
        print_json(answer)
        return
    table = Table(title=f"why {answer['title']} (item {item}) for {'user ' + str(user) if user else 'this history'}: "
                        f"score {answer['score']:.3f}")
    table.add_column("part")
    table.add_column("contribution", justify="right")
    for name, value in sorted(answer["attributes"].items(), key=lambda kv: -abs(kv[1])):
        table.add_row(name, f"{value:+.4f}")
    table.add_row("latent (not attributable)", f"{answer['latent']:+.4f}")
    console.print(table)
    if plot is not None:
        console.print(f"chart: {plot}")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    index: IndexOption = DEFAULT_INDEX,
    api_key: Annotated[Optional[str], typer.Option(envvar="GEREC_API_KEY", help="Require this X-API-Key header.")] = None,
    workers: Annotated[int, typer.Option(help="Server processes (each loads the model and index).")] = 1,
    max_batch: Annotated[int, typer.Option(min=1, max=256, help="Concurrent requests answered by one model pass "
                                           "(1: no micro-batching).")] = 32,
    max_wait_ms: Annotated[float, typer.Option(min=0, max=100, help="How long a batch waits for more requests "
                                               "(0: it takes what queued while the previous batch ran).")] = 0.0,
) -> None:
    """Serve /recommend (+ /recommend/batch), /similar, /explain, /livez, /readyz and /metrics over HTTP
    (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    from gerec.steps.recommend import load_recommender

    ws = workspace(ctx)
    if not api_key and not _loopback(host):
        err_console.print(f"[yellow]warning:[/] serving on {host} without an API key: anyone who can reach it can "
                          "query it (set --api-key or GEREC_API_KEY)", highlight=False)
    if (ws.index_dir(index) / "manifest.json").exists():
        load_recommender(ws, index, device(ctx), with_store=False)  # a damaged index fails here, clearly
    else:
        err_console.print(f"[yellow]warning:[/] no index '{index}' yet: /readyz answers 503 until `gerec index "
                          "build` publishes it; the service loads it then, without a restart", highlight=False)
    threads = ctx.find_root().params.get("threads")
    os.environ.update({"GEREC_WORKSPACE": str(ws.root), "GEREC_INDEX": index, "GEREC_API_KEY": api_key or "",
                       "GEREC_MAX_BATCH": str(max_batch), "GEREC_MAX_WAIT_MS": str(max_wait_ms),
                       **({"GEREC_THREADS": str(threads)} if threads else {}),
                       **({"GEREC_DEVICE": device(ctx)} if device(ctx) else {})})
    uvicorn.run("gerec.steps.recommend:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
