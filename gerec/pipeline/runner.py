"""Stages that skip themselves: a re-run continues from where its inputs last changed.

Each stage declares its settings, the stages it reads from and the files it writes. Its
*input key* hashes its settings and the content fingerprints of what its upstream stages
wrote. A stage whose key matches the record in ``<workspace>/pipeline.json`` and whose
files still hash to the recorded fingerprint is skipped; a changed setting, a changed
upstream result, or a deleted or edited artifact runs it again — and, through the
fingerprints, every stage downstream that now sees different inputs. An interrupted run
records every stage that finished, so the next one starts at the first that did not.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gerec.artifacts import read_json, write_json
from gerec.errors import GerecError
from gerec.workspace import Workspace


@dataclass
class Stage:
    """One step of a run. ``run`` does the work and returns a one-line summary of it."""

    name: str  # "family" or "family:member", e.g. "base:sasrec"; --force accepts either
    run: Callable[[], str]
    params: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    outputs: tuple[Path, ...] = ()  # files or folders whose content is this stage's result

    @property
    def family(self) -> str:
        return self.name.split(":", 1)[0]


def fingerprint(paths: Collection[Path]) -> str | None:
    """Content hash of files and folders (recursively, hidden temp files excluded); None if any is missing."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        if not path.exists():
            return None
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                     and not any(part.startswith(".") for part in p.relative_to(path).parts))
        for file in files:
            digest.update(str(file.relative_to(path.parent)).encode())
            with open(file, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _key(stage: Stage, upstream: dict[str, str | None]) -> str:
    text = json.dumps({"params": stage.params, "after": {name: upstream[name] for name in stage.after}},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Pipeline:
    """Stages in order; ``run`` executes the ones whose inputs changed (or that were forced)."""

    def __init__(self, ws: Workspace, stages: list[Stage]) -> None:
        seen: set[str] = set()
        for stage in stages:
            if stage.name in seen:
                raise GerecError(f"stage '{stage.name}' is listed twice")
            missing = [name for name in stage.after if name not in seen]
            if missing:
                raise GerecError(f"stage '{stage.name}' reads from '{missing[0]}', which does not run before it")
            seen.add(stage.name)
        self.ws = ws
        self.stages = stages
        self.manifest_path = ws.pipeline_path

    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def check_force(self, force: Collection[str]) -> set[str]:
        """The stages ``--force`` names (a family such as ``base`` names all its members; ``all`` every stage)."""
        if "all" in force:
            return set(self.names())
        chosen = set()
        for name in force:
            matches = {s.name for s in self.stages if name in (s.name, s.family)}
            if not matches:
                families = sorted({s.family for s in self.stages})
                raise GerecError(f"force {name}: no such stage; choose from all, {', '.join(families)} "
                                 f"or one of {', '.join(self.names())}")
            chosen |= matches
        return chosen

    def run(self, force: Collection[str] = (), console: Console | None = None,
            show_progress: bool = True) -> list[dict[str, Any]]:
        """Run or skip every stage; return one record per stage (name, status, seconds, summary)."""
        forced = self.check_force(force)
        console = console or Console(stderr=True)
        records: dict[str, Any] = read_json(self.manifest_path)["stages"] if self.manifest_path.exists() else {}
        fingerprints: dict[str, str | None] = {}
        report = []
        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn()]
        with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
            task = progress.add_task("", total=len(self.stages))
            for number, stage in enumerate(self.stages, 1):
                progress.update(task, description=f"stage {number}/{len(self.stages)}: {stage.name}")
                key = _key(stage, fingerprints)
                old = records.get(stage.name, {})
                current = fingerprint(stage.outputs)
                unchanged = old.get("key") == key and current is not None and old.get("fingerprint") == current
                if unchanged and stage.name not in forced:
                    fingerprints[stage.name] = current
                    status, seconds, summary = "skipped", 0.0, old.get("summary", "")
                else:
                    started = time.perf_counter()
                    summary = stage.run()
                    seconds = time.perf_counter() - started
                    fingerprints[stage.name] = fingerprint(stage.outputs)
                    records[stage.name] = {"key": key, "fingerprint": fingerprints[stage.name], "summary": summary,
                                           "seconds": round(seconds, 1),
                                           "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                    write_json(self.manifest_path, {"stages": records})
                    status = "ran"
                report.append({"stage": stage.name, "status": status, "seconds": round(seconds, 1), "summary": summary,
                               "outputs": [str(p) for p in stage.outputs]})
                mark = "[green]✓[/]" if status == "ran" else "[dim]·[/]"
                took = f"{seconds:6.1f} s" if status == "ran" else "skipped"
                progress.console.print(f"{mark} {stage.name:<16} {took:>9}  {summary}", highlight=False)
                progress.advance(task)
        return report
