"""One training loop for every sequential model: windows, early stopping, checkpoints.

Each user's train sequence is cut into windows of ``max_len + 1`` items (aligned to its
end, stride ``max_len``) so every train event is a target exactly once per epoch, and the
loss is taken at every position of a window — no per-prefix samples, no Python per
sample. After each epoch: validation NDCG@10 on the validation split, early stopping with
patience, the best weights kept. A run can be resumed from its last completed epoch.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from safetensors.torch import load_file, save_file

from gerec import parallel
from gerec.artifacts import atomic_file, publish_dir, read_json, sha256_file, write_json
from gerec.config import SEED_LIMIT, ConfigError, check, choice, update
from gerec.data.sequences import Sequences, ranges
from gerec.devices import resolve_device
from gerec.errors import GerecError
from gerec.evaluation import evaluate
from gerec.models import build_model
from gerec.models.popularity import Popularity
from gerec.models.refined import Refinement
from gerec.models.sequential import ModelConfig, SequentialModel
from gerec.names import MODELS, parse_replica
from gerec.refine.latent_map import map_cold_items

VALID_METRIC = "NDCG@10"
POPULARITY_MARGIN = 1.1  # a model under 1.1× the most-popular list's validation NDCG@10 is flagged


@dataclass
class TrainConfig:
    """Optimisation settings (the same loop trains base and refined models)."""

    epochs: int = 200  # upper bound; early stopping usually ends sooner
    batch_size: int = 128  # windows per step
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a better validation NDCG@10 before stopping
    # ... while the best so far is still at the most-popular list's level (under 1.1× its valid
    # NDCG@10), this many instead: SASRec on ML-100K can sit on a popularity plateau for 5
    # epochs before it learns order (seed 44: valid 0.0355 for epochs 5–10, popularity 0.0347,
    # stopped at patience 5 with test NDCG@10 0.0393 below popularity's 0.0410 — a failed run)
    popularity_patience: int = 20
    # ... and never fewer epochs than cover this many optimizer steps: with few users an epoch is a
    # handful of steps (610 users with long histories: 7 at batch 128), and patience 5 then stops a
    # model that is still learning on validation noise. Measured on a synthetic catalogue shaped
    # like a sparse MovieLens (610 users, 9.5k items): patience 5 stopped SASRec at epoch 20 with
    # test NDCG@10 0.0028, below popularity's 0.0059, its loss still at the uniform-guess level.
    # 180 steps is 20 epochs on ML-100K (9 steps each), where patience 20 raised SASRec's validation
    # NDCG@10 on all 3 seeds (mean 0.0875 → 0.0914) and GRU4Rec needed 20; Amazon epochs are 175+
    # steps, so there it changes nothing.
    patience_steps: int = 180
    grad_clip: float = 5.0
    seed: int = 42
    eval_batch_size: int = 512
    max_minutes: float = 0.0  # wall-clock training budget (0: none); the best epoch so far is kept

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "popularity_patience", "eval_batch_size"):
            check(name, getattr(self, name), 1, 1_000_000)
        check("patience_steps", self.patience_steps, 0, 1_000_000_000)
        check("lr", self.lr, 0, 10, low_open=True)
        check("weight_decay", self.weight_decay, 0)
        check("grad_clip", self.grad_clip, 0)
        check("seed", self.seed, 0, SEED_LIMIT, high_open=True)
        check("max_minutes", self.max_minutes, 0)


# Per-model departures from ModelConfig's and TrainConfig's defaults (a setting given explicitly
# always wins).
# BERT4Rec: cloze training hides ~20% of positions, so a batch carries few targets and the
# model needs far more, noisier steps than SASRec. Measured on ML-100K (test NDCG@10, one seed,
# popularity 0.0410): batch 128 with patience 30 peaks at epoch 17 at 0.0427 — a failed run —;
# batch 32, patience 20: 0.0448 (epoch 85); batch 16, patience 30: 0.0581 (epoch 136 of 166).
# On the Amazon sets (1,400–3,000 steps per epoch at batch 16) these defaults converge by early
# stopping too: Beauty 0.0267 (best epoch 75 of 105), Games 0.0408 (43 of 73), one seed each.
# GRU4Rec: its validation curve climbs in steps with flat stretches of 5+ epochs, so patience 5
# stops it early. ML-100K, patience 5 (3 seeds): test NDCG@10 0.0734 ± 0.0021, stopped at epochs
# 37–45, and the same models trained on gained +20% (protocol's base-continued, 0.0880); patience
# 20: seed 0 validation 0.0773 at epoch 37 → 0.1041 at epoch 83, test 0.0812; seeds 0-1 test
# 0.0802 ± 0.0015 (best epochs 83 and 63).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"bert4rec": {"batch_size": 16, "patience": 30},
                                             "gru4rec": {"patience": 20}}


@dataclass
class TrainResult:
    model: SequentialModel
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    stopped: str = ""  # early stopping | time budget | epoch limit

    @property
    def epochs(self) -> int:
        return len(self.history)


def resolve_max_len(config: ModelConfig, seqs: Sequences) -> ModelConfig:
    """Fill ``max_len`` from the data when unset: long MovieLens-like histories get 200."""
    if config.max_len is not None:
        return config
    median = float(np.median(seqs.lengths(seqs.users))) if len(seqs.users) else 0.0
    return dataclasses.replace(config, max_len=200 if median >= 50 else 50)


def training_windows(seqs: Sequences, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, max_len + 1) left-padded windows over every user's train sequence, and (W,) their users."""
    users = seqs.users
    hp, flat = seqs.histories(users, "valid")  # train part: all but the last two events
    lens = np.diff(hp)
    n_windows = np.where(lens >= 2, np.ceil((lens - 1) / max_len), 0).astype(np.int64)
    owner = np.repeat(np.arange(len(users)), n_windows)
    k = np.arange(n_windows.sum()) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    ends = lens[owner] - k * max_len  # exclusive end within the user's train sequence
    starts = np.maximum(ends - (max_len + 1), 0)
    wlen = ends - starts
    out = np.zeros((len(owner), max_len + 1), dtype=np.int64)
    rows = np.repeat(np.arange(len(owner)), wlen)
    out[rows, ranges(max_len + 1 - wlen, wlen)] = flat[ranges(hp[owner] + starts, wlen)]
    return torch.from_numpy(out), torch.from_numpy(users[owner].astype(np.int64))


def length_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Batches of windows of similar length, in random order.

    Amazon-like data has a median history of ~5 items in windows of 51: random batches
    would spend most of their compute on padding. Windows are sorted by length (random
    order among equal lengths), cut into batches, and the batches shuffled.
    """
    noise = torch.rand(len(lengths), generator=generator, device=generator.device)
    order = torch.argsort(lengths.double() + noise.double() * 0.5)
    batches = list(torch.split(order, batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator, device=generator.device)]


# -- checkpoints: safetensors weights + JSON ----------------------------------------------

def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_file(path) as tmp:
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp))


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors = {f"{idx}.{key}": value for idx, s in state["state"].items() for key, value in s.items()}
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


def save_item_embeddings(model: SequentialModel, path: Path) -> None:
    """Parquet (item_id, vector) of the real items' rows of the item table."""
    table = model.catalogue().detach()[1:].cpu().numpy().astype(np.float32)  # (n_items, d)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(table.ravel()), table.shape[1])
    with atomic_file(path) as tmp:
        pq.write_table(pa.table({"item_id": np.arange(1, model.n_items + 1, dtype=np.int32), "vector": vectors}), tmp)


def save_user_vectors(model: SequentialModel, path: Path) -> None:
    """Parquet (user_id, vector) of a refined model's trained user guided vectors ``g_u`` (if any)."""
    if model.user_guided is None:
        return
    table = model.user_guided.vectors.weight.detach()[1:].cpu().numpy().astype(np.float32)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(table.ravel()), table.shape[1])
    with atomic_file(path) as tmp:
        pq.write_table(pa.table({"user_id": np.arange(1, len(table) + 1, dtype=np.int64), "vector": vectors}), tmp)


def load_checkpoint(out_dir: Path, device: str | torch.device | None = "cpu") -> SequentialModel:
    """The best model of a finished (or interrupted) run in ``out_dir``, on ``device``
    (weights are saved from the CPU, so a checkpoint loads on any device)."""
    config_path = out_dir / "config.json"
    if not config_path.exists():
        raise GerecError(f"no trained model in {out_dir}: train one first")
    meta = read_json(config_path)
    model = build_model(ModelConfig(**meta["model"]), meta["n_items"])
    if "refine" in meta:
        Refinement.shell(meta["refine"]).apply(model)
    model.load_state_dict(load_file(str(out_dir / "model.safetensors")))
    model.eval()
    return model.to(resolve_device(device))


def user_queries(model: SequentialModel, seqs: Sequences, users: np.ndarray, split: str,
                 batch_size: int = 512) -> np.ndarray:
    """(len(users), d) the model's query vectors for each user's history before their ``split`` target."""
    out = [np.zeros((0, model.width), dtype=np.float32)]
    with torch.inference_mode():
        for start in range(0, len(users), batch_size):
            batch = users[start:start + batch_size]
            histories = torch.from_numpy(seqs.padded(batch, split, int(model.config.max_len))).to(model.device)
            out.append(model.user_vectors(histories, torch.from_numpy(batch).to(model.device)).cpu().numpy())
    return np.concatenate(out)


def _check_resumable(out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    state_path = out_dir / "state.json"
    if not state_path.exists():
        raise GerecError(f"nothing to resume in {out_dir}: no state.json (train with resume off)")
    state = read_json(state_path)
    old = read_json(out_dir / "config.json")
    comparable = lambda m: {**m, "train": {k: v for k, v in m["train"].items() if k != "epochs"}}  # noqa: E731
    old, new = comparable(old), comparable(meta)
    for key in ("model", "train", "data_files", "n_items", "refine"):  # more epochs may be asked for; nothing else
        if old.get(key) != new.get(key):
            raise GerecError(f"cannot resume {out_dir}: its '{key}' differs from this run's (train with resume off)")
    return state


def train(seqs: Sequences, model_config: ModelConfig, train_config: TrainConfig, out_dir: Path,
          resume: bool = False, data_files: dict[str, str] | None = None, console: Console | None = None,
          show_progress: bool = True, refinement: Refinement | None = None,
          device: str | torch.device | None = None, init: Path | None = None) -> TrainResult:
    """Train, validate each epoch, stop early, keep the best; publish everything as ``out_dir``.

    With ``refinement``, the model's item table is the refined ``[frozen ; trainable]`` one
    (and user guided vectors join the query): the same loop, protocol and early stopping.

    ``out_dir`` gets ``config.json``, ``model.safetensors`` (best), ``last.safetensors`` +
    ``optimizer.safetensors`` + ``state.json`` (for ``resume``), ``item_embeddings.parquet``,
    ``metrics.json`` (and ``user_vectors.parquet`` for a model with user guided vectors). A
    run works in ``.<name>.partial`` beside it (what ``resume`` continues) and replaces
    ``out_dir`` only when it has finished, so an interrupted or failed run never leaves a
    half-written model where a finished one is expected. ``device``: see :func:`gerec.devices.resolve_device`; random draws
    (batch order, negatives, BERT4Rec masks) come from one CPU generator, so a seed gives the
    same draws on any device. ``init``: a trained model folder whose weights this run starts
    from (a warm start, e.g. the base-continued control arm).
    """
    console = console or Console(stderr=True)
    device = parallel.join(resolve_device(device))
    writer = parallel.is_writer()  # under torchrun only rank 0 writes (and prints); every rank trains
    console = console if writer else Console(stderr=True, quiet=True)
    model_config = resolve_max_len(model_config, seqs)
    max_len = int(model_config.max_len)  # type: ignore[arg-type]
    torch.manual_seed(train_config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = build_model(model_config, seqs.n_items)
    model_config = model.config  # loss=auto resolved for this catalogue
    widen = refinement is not None and refinement.widened  # the whole base model, then its table widened
    if init is not None and widen:
        model.load_state_dict(load_file(str(init / "model.safetensors")))
    if refinement is not None:
        refinement.apply(model)
    if init is not None and not widen:
        model.load_state_dict(load_file(str(init / "model.safetensors")))
    popularity = Popularity.fit(seqs)
    if model_config.loss == "sampled" and model_config.sampler == "popularity":
        model.set_item_counts(popularity.counts)
    model.to(device)
    step = parallel.wrap(model, device)  # what the training step calls: DDP across processes, or the model
    opt = torch.optim.Adam(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    gen = torch.Generator().manual_seed(train_config.seed)
    meta = {"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config),
            "n_items": seqs.n_items, "n_users": seqs.n_users, "data_files": data_files or {}}
    if refinement is not None:
        meta["refine"] = refinement.meta()
    if init is not None:
        meta["warm_start"] = sha256_file(init / "model.safetensors")
    staging = out_dir.with_name(f".{out_dir.name}.partial")  # resumable; published whole at the end
    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
                             "seconds": 0.0}
    if resume:
        if not (staging / "state.json").exists() and (out_dir / "state.json").exists():
            shutil.copytree(out_dir, staging, dirs_exist_ok=True)  # continue a finished run, e.g. for more epochs
        state = _check_resumable(staging, meta)
        model.load_state_dict(load_file(str(staging / "last.safetensors")))
        tensors = load_file(str(staging / "optimizer.safetensors"))  # CPU tensors; load_state_dict moves them
        gen.set_state(tensors.pop("__generator__"))
        torch.set_rng_state(tensors.pop("__torch_rng__"))
        _restore_optimizer(opt, tensors, state.pop("optimizer"))
        console.print(f"resuming {model_config.model} after epoch {state['epoch']}")
    elif writer:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write_json(staging / "config.json", meta)

    windows, owners = training_windows(seqs, max_len)
    lengths = (windows > 0).sum(dim=1)  # (W,) real items per window
    n_batches = math.ceil(len(windows) / train_config.batch_size)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn()]
    budget = train_config.max_minutes * 60 or float("inf")
    popular_valid = evaluate(popularity, seqs, "valid", batch_size=train_config.eval_batch_size).metrics
    plateau = POPULARITY_MARGIN * popular_valid[VALID_METRIC]

    step_floor = math.ceil(train_config.patience_steps / n_batches)

    def patience() -> int:
        """Epochs without progress allowed now: more while the model is still at popularity's level,
        and never fewer than cover ``patience_steps`` optimizer steps."""
        epochs = train_config.patience
        if state["best"] < plateau:
            epochs = max(epochs, train_config.popularity_patience)
        return max(epochs, step_floor)

    with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
        while state["epoch"] < train_config.epochs and state["bad_epochs"] < patience() and state["seconds"] < budget:
            epoch = state["epoch"] + 1
            started = time.perf_counter()
            task = progress.add_task(f"{model_config.model} epoch {epoch}", total=n_batches, loss=float("nan"))
            model.train()
            total = 0.0
            # under torchrun every rank draws the same batches from a per-epoch generator (its own
            # generator's later draws depend on its share of the data) and trains on its share of each
            order = gen if parallel.world()[1] == 1 else torch.Generator().manual_seed(train_config.seed * 100_003 + epoch)
            for b, rows in enumerate(length_batches(lengths, train_config.batch_size, order)):
                rows = parallel.my_share(rows)
                batch = windows[rows][:, -int(lengths[rows].max()):].to(device)  # (B, longest window in the batch)
                _, loss = step(batch, gen, owners[rows].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if train_config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
                opt.step()
                total += loss.item()
                progress.update(task, advance=1, loss=total / (b + 1))
            model.eval()
            scored = evaluate(model, seqs, "valid", max_len=max_len, batch_size=train_config.eval_batch_size,
                              users=parallel.my_share(seqs.users))  # under torchrun: this rank's share
            valid = parallel.mean_over_ranks({n: float(v.sum()) for n, v in scored.per_user.items()},
                                             len(scored.users), device)
            seconds = time.perf_counter() - started
            progress.remove_task(task)
            state["seconds"] += seconds
            state["history"].append({"epoch": epoch, "loss": total / max(n_batches, 1), "seconds": seconds,
                                     f"valid_{VALID_METRIC}": valid[VALID_METRIC]})
            better = valid[VALID_METRIC] > state["best"]
            if better:
                state.update(best=valid[VALID_METRIC], best_epoch=epoch, bad_epochs=0, valid=valid)
                if writer:
                    _save_tensors(staging / "model.safetensors", model.state_dict())
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch
            console.print(f"{model_config.model} epoch {epoch:3d}  loss {total / max(n_batches, 1):.4f}  "
                          f"valid {VALID_METRIC} {valid[VALID_METRIC]:.4f}{' *' if better else ''}  {seconds:.1f}s",
                          highlight=False)
            if writer:
                _save_tensors(staging / "last.safetensors", model.state_dict())
                tensors, groups = _optimizer_tensors(opt)
                _save_tensors(staging / "optimizer.safetensors",
                              {**tensors, "__generator__": gen.get_state(), "__torch_rng__": torch.get_rng_state()})
                write_json(staging / "state.json", {**state, "optimizer": groups})

    if not writer:  # the other ranks wait for rank 0 to publish, then read what it wrote
        parallel.barrier()
        best = load_checkpoint(out_dir, device)
        metrics = read_json(out_dir / "metrics.json")
        return TrainResult(best, metrics["valid"], metrics["test"], state["history"], state["best_epoch"],
                           state["seconds"], metrics["stopped"])
    best = load_checkpoint(staging, device)
    if refinement is not None and map_cold_items(best, np.asarray(refinement.cold, dtype=np.int64)):
        _save_tensors(staging / "model.safetensors", best.state_dict())  # what is published ranks them by text
    test = evaluate(best, seqs, "test", max_len=max_len, batch_size=train_config.eval_batch_size).metrics
    save_item_embeddings(best, staging / "item_embeddings.parquet")
    stopped = ("early stopping" if state["bad_epochs"] >= patience()
               else "time budget" if state["seconds"] >= budget else "epoch limit")
    floor = {"valid": popular_valid,
             "test": evaluate(popularity, seqs, "test", batch_size=train_config.eval_batch_size).metrics}
    if state["best"] < POPULARITY_MARGIN * floor["valid"][VALID_METRIC]:
        console.print(f"[yellow]warning:[/] {model_config.model} reaches valid {VALID_METRIC} {state['best']:.4f}, "
                      f"popularity {floor['valid'][VALID_METRIC]:.4f}: it does not clearly beat the most-popular "
                      "list (a failed run, not a baseline; try more epochs, more dropout or a shorter max_len)",
                      highlight=False)
    metrics = {"model": model_config.model, "best_epoch": state["best_epoch"], "epochs": state["epoch"], "stopped": stopped,
               "seconds": round(state["seconds"], 2),
               "seconds_per_epoch": round(state["seconds"] / max(state["epoch"], 1), 2),
               "steps_per_epoch": n_batches, "patience": patience(),
               "valid": state.get("valid", {}), "test": test, "popularity": floor}
    write_json(staging / "metrics.json", metrics)
    save_user_vectors(best, staging / "user_vectors.parquet")
    publish_dir(staging, out_dir)  # every output appears at once: a failed run leaves the previous model
    parallel.barrier()
    return TrainResult(best, metrics["valid"], test, state["history"], state["best_epoch"], state["seconds"], stopped)


def replica_settings(key: str, settings: dict[str, Any] | None,
                     inherit_seed: bool = False) -> tuple[str, dict[str, Any]]:
    """The architecture and settings of model key ``<model>`` or ``<model>-seed<k>``.

    Replica ``k`` trains with seed + k: the given seed, else the default one. ``inherit_seed``
    (arms trained from a base checkpoint): without a given seed the checkpoint's own seed,
    already shifted, is kept, so every arm of a replica shares its base's seed.
    """
    model, k = parse_replica(key)
    settings = dict(settings or {})
    if "seed" in settings or not inherit_seed:
        settings["seed"] = int(settings.get("seed", TrainConfig.seed)) + k
    return model, settings


def configs_from(values: dict[str, Any], model: str) -> tuple[ModelConfig, TrainConfig]:
    """Split one flat mapping (YAML file + ``key=value`` overrides) into the two configs."""
    choice("model", model, MODELS)
    values = {**MODEL_DEFAULTS.get(model, {}), **{k.replace("-", "_"): v for k, v in values.items()}}
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    model_values = {k: v for k, v in values.items() if k in model_keys}
    train_values = {k: v for k, v in values.items() if k not in model_keys}
    unknown = [k for k in train_values if k not in train_keys]
    if unknown:
        near = difflib.get_close_matches(unknown[0], sorted(model_keys | train_keys), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"unknown setting '{unknown[0]}'{hint}")
    train = update(TrainConfig(), train_values)
    return update(ModelConfig(model=model), model_values), train
