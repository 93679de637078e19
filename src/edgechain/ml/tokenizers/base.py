"""What every tokenizer offers (`Tokenizer`), streaming decode, and chat-template rendering.

`StreamDecoder` turns generated ids into text as they come, emitting only complete UTF-8
(a character split over two byte tokens appears once both arrived). `render_chat_template`
renders a Jinja chat template the way Hugging Face transformers does (sandboxed,
``trim_blocks``/``lstrip_blocks``, ``raise_exception``, ``tojson``, ``strftime_now``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import jinja2
import jinja2.ext
import jinja2.sandbox

from edgechain.ml.errors import ModelFormatError

ChatMessage = Mapping[str, Any]
"""One chat message: at least ``role`` and ``content``."""

# Texts llama.cpp treats as end-of-generation when a vocabulary has them as special tokens.
END_OF_GENERATION_TEXTS = (
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
)


@runtime_checkable
class Tokenizer(Protocol):
    """Text <-> token ids, as the model file's own tokenizer defines them."""

    @property
    def vocab_size(self) -> int: ...

    @property
    def bos_id(self) -> int | None: ...

    @property
    def eos_id(self) -> int | None: ...

    @property
    def eot_ids(self) -> frozenset[int]:
        """Ids that end generation (EOS, end-of-turn and the like)."""
        ...

    @property
    def chat_template(self) -> str | None: ...

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """`add_special`: add BOS/EOS as the file says; `parse_special`: read special-token
        texts in `text` (``<|im_start|>``) as those tokens, as llama.cpp does for prompts."""
        ...

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str: ...

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a generated token stands for (control tokens: empty)."""
        ...

    def render_chat(
        self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True
    ) -> str:
        """The prompt text for `messages`, by the file's chat template."""
        ...


class StreamDecoder:
    """Incremental decoding: `push(id)` returns the newly complete text (possibly empty)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._pending = b""

    def push(self, token_id: int) -> str:
        self._pending += self._tokenizer.token_bytes(token_id)
        return self._take_complete()

    def flush(self) -> str:
        """Whatever is left, undecodable bytes replaced by U+FFFD."""
        text = self._pending.decode("utf-8", errors="replace")
        self._pending = b""
        return text

    def _take_complete(self) -> str:
        data = self._pending
        # A UTF-8 sequence is at most 4 bytes: only the last 3 can be an unfinished one.
        for keep in range(min(3, len(data)) + 1):
            head = data[: len(data) - keep]
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if keep and not _is_incomplete_tail(data[len(data) - keep :]):
                break
            self._pending = data[len(data) - keep :]
            return text
        # Invalid bytes that no continuation can fix: emit them replaced.
        text = data.decode("utf-8", errors="replace")
        self._pending = b""
        return text


def _is_incomplete_tail(tail: bytes) -> bool:
    """True when `tail` is the start of a multi-byte UTF-8 sequence still missing bytes."""
    lead = tail[0]
    if 0xF0 <= lead <= 0xF4:
        needed = 4
    elif 0xE0 <= lead <= 0xEF:
        needed = 3
    elif 0xC2 <= lead <= 0xDF:
        needed = 2
    else:
        return False
    return len(tail) < needed and all(0x80 <= b < 0xC0 for b in tail[1:])


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


_ENVIRONMENT = jinja2.sandbox.ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
)
_ENVIRONMENT.filters["tojson"] = _tojson
_ENVIRONMENT.globals["raise_exception"] = _raise_exception
_ENVIRONMENT.globals["strftime_now"] = _strftime_now


def render_chat_template(
    template: str,
    messages: Sequence[ChatMessage],
    add_generation_prompt: bool = True,
    **variables: Any,
) -> str:
    """Render `template` as transformers' ``apply_chat_template(tokenize=False)`` does."""
    try:
        compiled = _ENVIRONMENT.from_string(template)
        return compiled.render(
            messages=[dict(message) for message in messages],
            add_generation_prompt=add_generation_prompt,
            **variables,
        )
    except jinja2.exceptions.TemplateError as exc:
        raise ModelFormatError(f"chat template failed to render: {exc}") from exc


def special_token_variables(
    tokens: Sequence[str], bos_id: int | None, eos_id: int | None
) -> dict[str, str]:
    """``bos_token``/``eos_token`` for templates that mention them."""
    variables: dict[str, str] = {}
    if bos_id is not None and 0 <= bos_id < len(tokens):
        variables["bos_token"] = tokens[bos_id]
    if eos_id is not None and 0 <= eos_id < len(tokens):
        variables["eos_token"] = tokens[eos_id]
    return variables
