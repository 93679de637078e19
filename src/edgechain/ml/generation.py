"""The generate loop: prefill the prompt, then sample one token at a time, as a stream.

`generate` yields a `GeneratedToken` per new token, with the text that token completes
(`StreamDecoder` holds back bytes of a character split across tokens; bytes that never
complete a character are not emitted). It stops after ``max_tokens``, at the context's
end, or at an end token (EOS, end-of-turn: the tokenizer's ``eot_ids``), which is not
yielded. The repetition penalty sees the prompt and the generated tokens, as llama.cpp's
sampler does once the prompt is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from edgechain.ml.errors import GenerationError
from edgechain.ml.llama import LlamaModel
from edgechain.ml.sampling import Sampler, SamplingParams
from edgechain.ml.tokenizers import StreamDecoder, Tokenizer


@dataclass(frozen=True, slots=True)
class GeneratedToken:
    """One generated token and the text it completes."""

    id: int
    """The token id."""
    text: str
    """Newly complete text (empty while a multi-byte character is still incomplete)."""


def generate(
    model: LlamaModel,
    prompt_ids: Sequence[int],
    max_tokens: int,
    sampling: SamplingParams | None = None,
    sampler: Sampler | None = None,
    tokenizer: Tokenizer | None = None,
    stop_ids: frozenset[int] | None = None,
) -> Iterator[GeneratedToken]:
    """Stream up to ``max_tokens`` tokens after ``prompt_ids``.

    ``stop_ids`` defaults to the tokenizer's ``eot_ids`` (none without a tokenizer); text is
    empty without a tokenizer.
    """
    if max_tokens < 0:
        raise GenerationError(f"max_tokens must be >= 0, got {max_tokens}")
    if not prompt_ids:
        raise GenerationError("the prompt has no tokens")
    context = model.config.context_length
    if len(prompt_ids) > context:
        raise GenerationError(f"the prompt has {len(prompt_ids)} tokens; the context holds {context}")
    params = sampling or SamplingParams.greedy()
    chooser = sampler or Sampler()
    stops = stop_ids if stop_ids is not None else (tokenizer.eot_ids if tokenizer else frozenset())
    budget = min(max_tokens, context - len(prompt_ids))
    if budget <= 0:
        return
    state = model.new_state(len(prompt_ids) + budget)
    logits = model.forward(list(prompt_ids), state)
    history = list(prompt_ids)
    decoder = StreamDecoder(tokenizer) if tokenizer is not None else None
    for step in range(budget):
        token = chooser.sample(logits, params, history)
        if token in stops:
            return
        history.append(token)
        yield GeneratedToken(token, decoder.push(token) if decoder else "")
        if step + 1 < budget:
            logits = model.forward([token], state)
