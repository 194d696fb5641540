"""The shape of the code, checked from its imports: no cycles, cores that know nothing of
workspaces, verbs or the CLI, a thin CLI, examples on the public API.

Imports are read with ``ast`` (function-level ones too: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Cores take arrays, tensors and folders; they never read a workspace, call a verb or the CLI.
CORES = ("gerec.models", "gerec.refine", "gerec.guided", "gerec.retrieval", "gerec.evaluation", "gerec.data",
         "gerec.report", "gerec.serving", "gerec.training", "gerec.devices", "gerec.names", "gerec.config",
         "gerec.errors", "gerec.artifacts")
ABOVE_CORES = ("gerec.workspace", "gerec.steps", "gerec.pipeline", "gerec_cli")
# The modules whose workspace glue the verbs own: a benchmark that trains or scores calls a verb.
GLUE = ("gerec.training", "gerec.data.prepare", "gerec.data.sequences", "gerec.guided.score", "gerec.guided.finetune",
        "gerec.models")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "cli":
        parts[0] = "gerec_cli"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = [*ROOT.glob("gerec/**/*.py"), *ROOT.glob("cli/*.py")]
    modules = {_module_name(p): p for p in files}
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_cores_import_no_workspace_verb_or_cli() -> None:
    graph = _graph()
    assert any(_within(m, ("gerec.steps",)) for m in graph)  # the walk sees the verbs at all
    bad = {m: sorted(i for i in deps if _within(i, ABOVE_CORES))
           for m, deps in graph.items() if _within(m, CORES)}
    assert not {m: v for m, v in bad.items() if v}, "cores reach above themselves"


def test_only_the_cli_and_run_call_verbs_and_nothing_imports_the_cli() -> None:
    graph = _graph()
    for module, deps in graph.items():
        if not _within(module, ("gerec_cli",)):
            assert not any(_within(d, ("gerec_cli",)) for d in deps), module
        if not _within(module, ("gerec_cli", "gerec.steps")):
            assert not any(_within(d, ("gerec.steps",)) for d in deps), f"{module} calls a verb"


@pytest.mark.parametrize("path", sorted(ROOT.glob("cli/*.py")), ids=lambda p: p.name)
def test_cli_modules_do_no_data_work(path: Path) -> None:
    """The CLI parses, calls a verb and prints: no Parquet, CSV or SQL of its own."""
    heavy = {"pyarrow", "pyarrow.parquet", "duckdb", "pandas", "csv", "sqlite3", "numpy", "torch"}
    assert not heavy & _imports(path)
    text = path.read_text(encoding="utf-8")
    assert "read_parquet" not in text and "SELECT " not in text


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*.py")), ids=lambda p: p.name)
def test_examples_use_the_public_api(path: Path) -> None:
    gerec = {i for i in _imports(path) if i.split(".")[0] in ("gerec", "gerec_cli")}
    assert gerec <= {"gerec"}, f"{path.name} reaches past `import gerec`: {sorted(gerec)}"


@pytest.mark.parametrize("path", sorted(ROOT.glob("benchmarks/*.py")), ids=lambda p: p.name)
def test_benchmarks_train_and_score_through_verbs(path: Path) -> None:
    """Benchmarks go through the public API or the CLI (as users do), never the glue below."""
    imports = _imports(path)
    assert not {i for i in imports if _within(i, GLUE)}
    assert not [i for i in imports if i.startswith("gerec") and i.rpartition(".")[2].startswith("_")]


def test_public_api_names_resolve() -> None:
    import gerec

    for name in gerec.__all__:
        assert getattr(gerec, name) is not None, name
    with pytest.raises(AttributeError):
        gerec.no_such_verb  # noqa: B018
