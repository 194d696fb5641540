"""A small synthetic workspace with a trained base SASRec and guided scores (built once per session)."""

from __future__ import annotations

from pathlib import Path

from gerec import Workspace
from gerec.data.sequences import Sequences
from gerec.data.synth import SynthConfig, import_synthetic, synthesize
from gerec.guided.encoder import EncoderScorer
from gerec.guided.schema import load_schema
from gerec.guided.score import score_workspace
from gerec.training import configs_from, train

N_ITEMS, N_USERS, DIM = 120, 80, 32
BASE = {"epochs": 2, "dim": DIM, "layers": 1, "max_len": 20}


def make_workspace(root: Path) -> Workspace:
    ws = Workspace.resolve(root)
    synthesize(ws, SynthConfig(n_items=N_ITEMS, n_users=N_USERS, max_length=25, seed=3))
    import_synthetic(ws)
    score_workspace(ws, EncoderScorer(), load_schema("movies"), show_progress=False)
    model_config, train_config = configs_from(BASE, "sasrec")
    train(Sequences.from_workspace(ws), model_config, train_config, ws.model_dir("base", "sasrec"), show_progress=False)
    return ws
