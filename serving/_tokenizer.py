"""A byte-level BPE tokenizer with Qwen's ChatML conventions, trained offline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
# Order fixes their ids (0..3), so it is part of the model's identity.
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, PAD)

# Qwen2's pre-tokenizer split (digits one by one, letters in runs).  transformers
# loads any ``model_type: qwen2`` tokenizer through ``Qwen2Tokenizer``, which
# imposes this split; training with the same one keeps every merge reachable.
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen-style ChatML.  Content may be a string or a list of OpenAI text parts:
# vLLM inspects the template and may hand over either form.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- elif message['content'] is not none %}"
    "{%- for part in message['content'] %}"
    "{%- if part['type'] == 'text' %}{{- part['text'] }}{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int, model_max_length: int
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer and wrap it for transformers and vLLM.

    Args:
        texts: Training text, one document per item.
        vocab_size: Target vocabulary size, special tokens and the 256 byte
            symbols included.
        model_max_length: Longest sequence the model accepts.

    Returns:
        A fast tokenizer with ChatML special tokens and chat template; ``<|im_end|>``
        is its end-of-sequence token, as in Qwen's instruct models.
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps offsets on the raw text, as Qwen's tokenizer does.
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        # Every byte stays encodable even if the corpus never shows it.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=PAD,
        extra_special_tokens=[ENDOFTEXT, IM_START],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
