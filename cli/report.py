"""`gerec report`: a self-contained HTML report (and Markdown) of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gerec.names import DEFAULT_INDEX
from gerec_cli.common import configure_threads, console, print_json, workspace


def report(
    ctx: typer.Context,
    index: Annotated[str, typer.Option(help="Index whose recommendations the case studies show.")] = DEFAULT_INDEX,
    screenshot: Annotated[Optional[Path], typer.Option(help="Also open the report in headless Chromium, check every figure renders and save a full-page PNG here (needs chromium and playwright).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the written paths as JSON.")] = False,
) -> None:
    """Write reports/report.html, report.md (+ figures/) and report.json from the workspace's artifacts."""
    from gerec.steps.report import write_report

    configure_threads(ctx)
    paths = write_report(workspace(ctx), index)
    checked = None
    if screenshot is not None:
        from gerec.report.browser import check_in_browser

        checked = check_in_browser(paths["html"], screenshot)
    if json_out:
        print_json({**{k: str(v) for k, v in paths.items()}, "browser": checked})
        return
    console.print(f"report: {paths['html']} (open it in a browser); Markdown: {paths['markdown']}")
    if checked:
        console.print(f"Chromium rendered all {len(checked['images'])} figures; screenshot: {checked['screenshot']}")
