"""A tiny causal LM built from a config, with a byte-level BPE tokenizer trained here."""

from __future__ import annotations

from pathlib import Path

from gerec.guided.schema import Schema, parse_schema

SCHEMA: Schema = parse_schema({"domain": "tiny", "attributes": [
    {"name": "humor", "description": "How funny.", "low": "a serious film", "high": "a funny comedy"},
    {"name": "romance", "description": "How romantic.", "low": "no love story", "high": "a love story"},
    {"name": "pace", "description": "How fast.", "low": "a slow film", "high": "a fast film"},
]}, "tiny.yaml")

CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant: {% endif %}")


def build_tiny_lm(root: Path, chat: bool = True, merge_digits: bool = True) -> Path:
    """Save a 2-layer Llama-style model and its tokenizer into ``root``; returns the path."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["Item: a hilarious comedy about love. Rate the item on each attribute below from 1 to 9."] * 20
    if merge_digits:  # so " 7" is one token, as in GPT-2-style vocabularies
        corpus += [f"{a}: {d}\n" for a in SCHEMA.names for d in range(1, 10)] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=500, special_tokens=["<pad>", "<s>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(root)
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(root)
    return root
