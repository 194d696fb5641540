"""A hostile user's sweep: many bad inputs through the CLI, and `kill -9` at random moments.

Part 1 tries every command's options with bad values (negative, zero, NaN, infinities,
huge, non-ASCII digits, text) and its file inputs with bad files (missing, a folder, empty,
binary, not UTF-8, truncated gzip), through Typer's runner in worker processes (25
invocations each, memory capped at 12 GB), and counts how each ended: a clean error (exit 1
with one ``error:`` line, or exit 2 with Click's usage message), success, or a traceback
(any other exception, a MemoryError included: the target is 0).

Part 2 starts `gerec run --quick` in a fresh workspace, kills it with SIGKILL after a random
delay, N times, then runs it to the end: the final run must succeed and its results must
equal those of an uninterrupted run.

Run: python benchmarks/hostile.py [--kills 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from gerec.artifacts import write_json
from gerec_cli.main import app

RESULTS = Path(__file__).parent / "results" / "hostile.json"
BAD_NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e309", "99999999999999999999999", "abc", "", "١٢"]


def bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"missing": folder / "nope.txt", "folder": folder / "dir", "empty": folder / "empty.txt",
             "binary": folder / "binary.bin", "latin1": folder / "latin1.txt", "truncated-gz": folder / "t.json.gz",
             "garbage-gz": folder / "g.json.gz"}
    files["folder"].mkdir(exist_ok=True)
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(bytes(range(256)) * 40)
    files["latin1"].write_bytes("user_id,item_id\ncafé,1\n".encode("latin-1"))
    files["truncated-gz"].write_bytes(gzip.compress(b'{"asin": "B1", "title": "x"}\n' * 50)[:40])
    files["garbage-gz"].write_bytes(b"\x1f\x8bnot really gzip")
    return files


def invocations(ws: Path, files: dict[str, Path]) -> list[list[str]]:
    """Every bad input tried, as CLI arguments after ``--workspace``."""
    out: list[list[str]] = []
    numeric = {
        ("base", "train"): ["--set dim={}", "--set epochs={}", "--set batch_size={}", "--set lr={}",
                            "--set dropout={}", "--set max_len={}", "--set heads={}", "--set layers={}",
                            "--set seed={}", "--set patience={}", "--set weight_decay={}"],
        ("guided", "finetune"): ["--set lr={}", "--set epochs={}", "--set lora_r={}"],
        ("index", "build"): ["--recall-floor {}"],
        ("recommend",): ["--user {}", "-k {}", "--history {}"],
        ("similar",): ["--item {}", "-k {}"],
        ("explain",): ["--item {} --user 1"],
        ("data", "synth"): ["--items {}", "--users {}", "--seed {}"],
        ("evaluate",): ["--bootstrap {}"],
    }
    quick = {("base", "train"): ["--set", "epochs=1", "--set", "max_len=20"],  # a value that happens to be valid
             ("guided", "finetune"): ["--set", "stats_sample=16", "--set", "epochs=1"]}  # trains briefly
    for command, options in numeric.items():
        for option in options:
            for value in BAD_NUMBERS:
                out.append([*command, *quick.get(command, []), *[p.format(value) for p in option.split()]])
    for value in BAD_NUMBERS:
        out.append(["--threads", value, "data", "stats"])
        out.append(["--device", value or "''", "base", "train", "--set", "epochs=1"])
    for name, path in files.items():
        for fmt in ("movielens", "amazon-reviews", "sequences", "csv", "parquet"):
            out.append(["data", "import", fmt, str(path), "--items", str(files["latin1"])])
            out.append(["data", "import", fmt, str(files["latin1"]), "--items", str(path)])
        out.append(["base", "train", "--config", str(path)])
        out.append(["index", "add", "--items", str(path)])
        out.append(["guided", "score", "--schema", str(path)])
        out.append(["explain", "--item", "1", "--user", "1", "--plot", str(path)])
    return out


BATCH = 25  # invocations per worker process: a fresh process keeps one run's memory from the next


def classify(result: object) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    if result.exit_code == 0:  # type: ignore[attr-defined]
        return "succeeded"
    if result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "):  # type: ignore[attr-defined]
        return "clean error"
    if result.exit_code == 2 and "Usage:" in result.output:  # type: ignore[attr-defined]
        return "usage error"
    return "traceback"


def run_batch(workspace: Path, scratch: Path, start: int) -> list[dict]:
    """Invocations ``start`` .. ``start + BATCH`` in this process, memory capped at 12 GB so that a
    runaway allocation is a MemoryError (counted) rather than the machine's OOM killer."""
    resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))
    runner = CliRunner()
    out = []
    for args in invocations(workspace, bad_files(scratch))[start:start + BATCH]:
        ws = scratch / "ws"
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(workspace, ws, symlinks=True)
        result = runner.invoke(app, ["--workspace", str(ws), "--threads", "1", *args])
        out.append({"args": args, "outcome": classify(result), "exit": result.exit_code,
                    "exception": repr(result.exception) if result.exception else None})
    return out


def sweep(workspace: Path, scratch: Path) -> dict:
    total = len(invocations(workspace, bad_files(scratch)))
    records = []
    for start in range(0, total, BATCH):
        done = subprocess.run([sys.executable, __file__, "--batch", str(start), "--base", str(workspace),
                               "--scratch", str(scratch)], capture_output=True, text=True)
        if done.returncode:
            records.append({"args": f"batch {start}", "outcome": "traceback", "exit": done.returncode,
                            "exception": done.stderr[-300:]})
            continue
        records += json.loads(done.stdout.strip().splitlines()[-1])
    counts = {"tried": len(records)}
    for outcome in ("clean error", "usage error", "succeeded", "traceback"):
        counts[outcome] = sum(r["outcome"] == outcome for r in records)
    return {"counts": counts, "tracebacks": [r for r in records if r["outcome"] == "traceback"]}


def kills(n: int, seed: int, scratch: Path) -> dict:
    rng = random.Random(seed)

    def command(ws: Path) -> list[str]:
        return [sys.executable, "-m", "gerec_cli", "--workspace", str(ws), "--threads", "1", "run", "--quick", "--json"]

    reference = subprocess.run(command(scratch / "ref"), capture_output=True, text=True, check=True)
    expected = json.loads(reference.stdout)["results"]["rows"]
    ws = scratch / "killed"
    killed_at = []
    for _ in range(n):
        delay = rng.uniform(1.0, 25.0)
        proc = subprocess.Popen(command(ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at.append(round(delay, 1))
    final = subprocess.run(command(ws), capture_output=True, text=True)
    ok = final.returncode == 0
    same = ok and json.loads(final.stdout)["results"]["rows"] == expected
    debris = sorted(p.name for p in ws.rglob(".*") if p.name.endswith((".tmp", ".old")))
    return {"kills": n, "killed_after_seconds": killed_at, "final_run_ok": ok, "results_equal_uninterrupted": same,
            "final_stderr_tail": final.stderr[-500:] if not ok else "", "debris_left": debris}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)  # internal: one worker's share
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch is not None:
        print(json.dumps(run_batch(Path(args.base), Path(args.scratch), args.batch)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        base = scratch / "base"
        runner = CliRunner()
        runner.invoke(app, ["--workspace", str(base), "--threads", "1", "run", "--quick"], catch_exceptions=False)
        started = time.perf_counter()
        inputs = sweep(base, scratch / "sweep")
        inputs["seconds"] = round(time.perf_counter() - started, 1)
        crashes = kills(args.kills, args.seed, scratch)
    result = {"inputs": inputs, "kill9": crashes, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "date": time.strftime("%Y-%m-%d"), "command": "python benchmarks/hostile.py " + " ".join(sys.argv[1:])}
    write_json(RESULTS, result)
    print(json.dumps({"inputs": inputs["counts"], "tracebacks": inputs["tracebacks"][:10],
                      "kill9": {k: v for k, v in crashes.items() if k != "killed_after_seconds"}}, indent=2))


if __name__ == "__main__":
    main()
