"""A small synthetic workspace with a trained base SASRec and guided scores (built once per session)."""

from __future__ import annotations

from pathlib import Path

from gerec import Workspace
from gerec.data.synth import SynthConfig
from gerec.steps.base import train_base
from gerec.steps.data import synthesize
from gerec.steps.guided import score

N_ITEMS, N_USERS, DIM = 120, 80, 32
# every item out from the start and longer histories: a catalogue this small then has every item
# in some history, so tests can count on N_ITEMS items (the default's long tail and late
# releases would leave some items without any event, outside the imported catalogue)
DENSE = {"backlist": 1.0, "mean_length": 20.0}
BASE = {"epochs": 2, "dim": DIM, "layers": 1, "max_len": 20}


def make_workspace(root: Path) -> Workspace:
    ws = Workspace.resolve(root)
    synthesize(ws, SynthConfig(n_items=N_ITEMS, n_users=N_USERS, max_length=25, seed=3, **DENSE))
    score(ws, "movies", show_progress=False)
    train_base(ws, "sasrec", BASE, show_progress=False)
    return ws
