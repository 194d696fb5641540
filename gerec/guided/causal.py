"""The paper's scorer: a prompted causal language model answers ``name: digit`` per attribute.

Scores are read in one teacher-forced forward pass: the answer template is appended to
the prompt with a placeholder digit in every slot, and each slot's score is the expected
value of the next-token distribution restricted to the digit tokens 1..9 — differentiable
and never unparseable. Digit token ids are discovered from the tokenizer *in context*
(the answer is tokenized once per digit; each slot must differ by exactly one token), and
``logits_to_keep`` limits the output layer to the slot positions, so no full-vocabulary
logits over the whole sequence are built. ``generate=True`` instead decodes freely and
parses the text, keeping the raw output of any item that is not in format.

Works with any Hugging Face causal LM by local path or hub id (e.g. Qwen2.5 or Llama 3
instruct on a GPU); the chat template is used when the tokenizer has one.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import torch

from gerec.artifacts import digest_files
from gerec.devices import resolve_device
from gerec.errors import GerecError
from gerec.guided.schema import Schema

PLACEHOLDER = 5  # digit written into every slot for teacher forcing
SYSTEM = "You rate {kind}s on named attributes from 1 (lowest) to 9 (highest). Answer only in the requested format."
SUBJECT = {"item": "Item: {text}", "user": "A user recently enjoyed these items: {text}"}


class ScoreFormatError(GerecError):
    """A tokenizer or a generated answer that does not fit the ``name: digit`` format."""


def answer_text(schema: Schema, digits: list[int]) -> str:
    return "".join(f"{name}: {d}\n" for name, d in zip(schema.names, digits))


def prompt_text(tokenizer, schema: Schema, text: str, kind: str) -> str:  # noqa: ANN001 - any HF tokenizer
    lines = "\n".join(f"- {a.name}: {a.description} (1 = {a.low}; 9 = {a.high})" for a in schema.attributes)
    question = (f"{SUBJECT[kind].format(text=text)}\n\nRate the {kind} on each attribute below from 1 to 9. "
                f"Answer with one line per attribute, exactly `name: digit`, in this order:\n{lines}")
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": SYSTEM.format(kind=kind)}, {"role": "user", "content": question}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return f"{SYSTEM.format(kind=kind)}\n\n{question}\n\nAnswer:\n"


@dataclass(frozen=True)
class DigitSlots:
    """Where the digits sit in the tokenized answer, and which token ids they are."""

    answer_ids: list[int]  # answer with the placeholder digit in every slot
    positions: list[int]  # index of each slot's digit token within answer_ids
    digit_ids: list[int]  # token id of digits 1..9 in this context


def find_digit_slots(tokenizer, schema: Schema) -> DigitSlots:  # noqa: ANN001
    """Tokenize the answer once per digit; each slot must be one token that changes with it."""
    variants = [tokenizer(answer_text(schema, [d] * len(schema)), add_special_tokens=False)["input_ids"]
                for d in range(1, 10)]
    lengths = {len(v) for v in variants}
    if len(lengths) != 1:
        bad = [d + 1 for d, v in enumerate(variants) if len(v) != len(variants[0])]
        raise ScoreFormatError(f"digits {bad} are not single tokens after 'name: ' in this tokenizer; "
                               "the causal scorer needs each digit 1-9 to be one token in the answer")
    positions = [i for i in range(len(variants[0])) if len({v[i] for v in variants}) > 1]
    if len(positions) != len(schema):
        raise ScoreFormatError(f"found {len(positions)} digit slots in the tokenized answer, expected {len(schema)}")
    digit_ids = [variants[d][positions[0]] for d in range(9)]
    for pos in positions:
        if [variants[d][pos] for d in range(9)] != digit_ids:
            raise ScoreFormatError("a digit is tokenized differently in different answer lines")
    if len(set(digit_ids)) != 9:
        raise ScoreFormatError("digits 1-9 do not map to 9 distinct tokens")
    return DigitSlots(variants[PLACEHOLDER - 1], positions, digit_ids)


def parse_answer(raw: str, schema: Schema) -> list[float]:
    """Scores from a generated answer; raises :class:`ScoreFormatError` when one is missing."""
    scores = []
    for name in schema.names:
        match = re.search(rf"^\W*{re.escape(name)}\W*:\s*\**([1-9])\b", raw, flags=re.IGNORECASE | re.MULTILINE)
        if not match:
            raise ScoreFormatError(f"no '{name}: <1-9>' line")
        scores.append(float(match.group(1)))
    return scores


@dataclass
class CausalScorer:
    """Scores texts with a causal LM, teacher-forced (default) or by free generation."""

    model: str
    batch_size: int = 8
    max_length: int = 1024  # prompt tokens kept (the item text is cut first)
    generate: bool = False
    dtype: str | None = None  # e.g. "bfloat16" on a GPU
    device: str | None = None
    adapter: str | None = None  # a LoRA adapter saved by `gerec guided finetune`
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (text, raw output, reason)

    backend = "causal"
    calibrated = False  # the expected digit is already on the 1–9 scale

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # gerec shows its own progress; one bar per weight load is noise

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model)
            kwargs = {"dtype": getattr(torch, self.dtype)} if self.dtype else {}
            self.lm = AutoModelForCausalLM.from_pretrained(self.model, **kwargs)
        except OSError as err:
            raise GerecError(f"cannot load causal LM '{self.model}': {str(err).splitlines()[0]}") from None
        if self.adapter is not None:
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, str(self.adapter))
        self.device = str(resolve_device(self.device))
        self.lm.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._slots: dict[str, DigitSlots] = {}

    def slots(self, schema: Schema) -> DigitSlots:
        if schema.digest() not in self._slots:
            self._slots[schema.digest()] = find_digit_slots(self.tokenizer, schema)
        return self._slots[schema.digest()]

    def _prompt_ids(self, texts: list[str], schema: Schema, kind: str) -> list[list[int]]:
        ids = [self.tokenizer(prompt_text(self.tokenizer, schema, t, kind), add_special_tokens=False)["input_ids"]
               for t in texts]
        return [i[-self.max_length:] for i in ids]

    def answer_logits(self, texts: list[str], schema: Schema, kind: str, answer_positions: list[int],
                      model=None) -> torch.Tensor:  # noqa: ANN001
        """Teacher-forced pass over prompt + answer → (B, len(answer_positions), V) logits that
        predict those answer tokens; ``logits_to_keep`` builds no other rows."""
        slots = self.slots(schema)
        rows = [p + slots.answer_ids for p in self._prompt_ids(texts, schema, kind)]
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (length - len(r)) + r for r in rows], device=self.device)  # left-padded
        mask = torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows], device=self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        start = length - len(slots.answer_ids)
        keep = torch.tensor([start + p - 1 for p in answer_positions], device=self.device)
        return (model or self.lm)(input_ids=ids, attention_mask=mask, position_ids=positions,
                                  logits_to_keep=keep).logits

    def slot_logits(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor:
        """(B, m, V) logits at the position before each digit slot."""
        return self.answer_logits(texts, schema, kind, self.slots(schema).positions)

    def expected_digits(self, slot_logits: torch.Tensor, schema: Schema) -> torch.Tensor:
        """(B, m, V) → (B, m) expected value over digits 1..9 (the distribution renormalized to them)."""
        digit_ids = torch.tensor(self.slots(schema).digit_ids, device=slot_logits.device)
        probs = torch.softmax(slot_logits[..., digit_ids].float(), dim=-1)  # (B, m, 9)
        return probs @ torch.arange(1, 10, dtype=probs.dtype, device=probs.device)

    def _generate(self, texts: list[str], schema: Schema, kind: str) -> torch.Tensor:
        prompts = self._prompt_ids(texts, schema, kind)
        length = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (length - len(p)) + p for p in prompts], device=self.device)
        mask = (torch.arange(length, device=self.device)[None, :] >= torch.tensor(
            [length - len(p) for p in prompts], device=self.device)[:, None]).long()
        out = self.lm.generate(input_ids=ids, attention_mask=mask, do_sample=False, pad_token_id=pad,
                               max_new_tokens=len(self.slots(schema).answer_ids) + 16)
        scores = torch.full((len(texts), len(schema)), float("nan"))
        for k, row in enumerate(out[:, length:]):
            raw = self.tokenizer.decode(row, skip_special_tokens=True)
            try:
                scores[k] = torch.tensor(parse_answer(raw, schema))
            except ScoreFormatError as err:
                self.failures.append((texts[k], raw, str(err)))
        return scores

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor:
        """(n, m) scores on 1–9; NaN rows (generate mode) are listed in :attr:`failures`."""
        if not texts:
            return torch.zeros(0, len(schema))
        out = []
        with torch.no_grad():  # not inference_mode: cached anchors may later meet autograd
            for i in range(0, len(texts), self.batch_size):
                batch = texts[i:i + self.batch_size]
                if self.generate:
                    out.append(self._generate(batch, schema, kind))
                else:
                    out.append(self.expected_digits(self.slot_logits(batch, schema, kind), schema).cpu())
        return torch.cat(out).float()

    # -- fine-tuning (see gerec.guided.finetune) ------------------------------------------
    def attach_lora(self, config) -> list[torch.nn.Parameter]:  # noqa: ANN001
        """Wrap the LM with LoRA (peft's default target modules for its architecture)."""
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          task_type="CAUSAL_LM")
        with warnings.catch_warnings():  # peft calls a transformers method that transformers 5 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            self.lm = get_peft_model(self.lm, lora)
        self.lm.eval()
        return [p for p in self.lm.parameters() if p.requires_grad]

    def train_forward(self, texts: list[str], schema: Schema, kind: str,
                      scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(expected digits with gradients, format loss): LM cross-entropy on the answer's
        template tokens plus −log of the probability mass on digits at each slot."""
        slots = self.slots(schema)
        every = list(range(len(slots.answer_ids)))
        logits = self.answer_logits(texts, schema, kind, every).float()  # (B, A, V)
        slot_set = set(slots.positions)
        template = [p for p in every if p not in slot_set]
        targets = torch.tensor([slots.answer_ids[p] for p in template], device=logits.device)
        lm_loss = torch.nn.functional.cross_entropy(
            logits[:, template].reshape(-1, logits.shape[-1]), targets.repeat(logits.shape[0]))
        slot_logits = logits[:, slots.positions]  # (B, m, V)
        digit_ids = torch.tensor(slots.digit_ids, device=logits.device)
        mass = torch.logsumexp(slot_logits[..., digit_ids], -1) - torch.logsumexp(slot_logits, -1)  # log P(digit)
        return self.expected_digits(slot_logits, schema), lm_loss - mass.mean()

    def save_adapter(self, path) -> None:  # noqa: ANN001
        self.lm.save_pretrained(str(path))
        self.adapter = str(path)

    @staticmethod
    def description(model: str, generate: bool = False, adapter: str | None = None) -> dict[str, str]:
        """The scorer's identity (cache key, manifest) from its arguments alone, without loading the LM."""
        out = {"backend": CausalScorer.backend, "model": model, "mode": "generate" if generate else "teacher-forced"}
        if adapter:
            out["adapter"] = str(adapter)
            out["adapter_sha256"] = digest_files(str(adapter), "adapter_model.*")
        return out

    def describe(self) -> dict[str, str]:
        return self.description(self.model, self.generate, self.adapter)
