"""A tiny random-initialised Llama with a trained byte-level BPE tokenizer and a chat template.

Builds and saves in well under a second; for fast, real tests of the local backend (batching,
padding, decoding, seeds) where output quality does not matter. ``init_std`` is larger than the
usual 0.02 so the next-token distribution is peaked and greedy choices are not near-ties.
"""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "hello world the quick brown fox jumps over the lazy dog",
    "what is the capital of France? Paris is the capital of France.",
    "please answer the question honestly and refuse harmful requests",
    "user assistant system you are a helpful model",
] * 40


def build_tiny_llama(dest: str | Path, seed: int = 0, init_std: float = 0.5, vocab_size: int = 320) -> Path:
    """Save a tiny Llama model folder at ``dest`` and return it. Different ``seed`` -> different weights."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    dest = Path(dest)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "<unk>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="<|im_end|>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      initializer_range=init_std, pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                      eos_token_id=fast.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.do_sample = False
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest
