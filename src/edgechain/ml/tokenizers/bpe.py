"""Byte-level BPE tokenizers: a GGUF ``gpt2`` vocabulary (SmolLM2, Llama 3, Qwen 2) and HF ``tokenizer.json``.

A GGUF ``gpt2`` vocabulary (tokens in GPT-2's byte-to-unicode alphabet, ranked merges)
is handed to the `tokenizers` library (Rust) as a BPE model, with the pre-tokenizer that
``tokenizer.ggml.pre`` names, the same one llama.cpp uses: so encoding is as exact as
the Hugging Face tokenizer the file came from, and fast. Control and user-defined tokens
become added tokens, split out of the text when ``parse_special`` (user-defined always).
An unknown ``pre`` is refused (`UnsupportedModel`), as llama.cpp refuses it.

`HFTokenizer` wraps any ``tokenizer.json`` (BPE, WordPiece, Unigram) with its
``tokenizer_config.json`` (BOS/EOS, chat template) when present.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import decoders, models, pre_tokenizers

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.tokenizers._metadata import (
    flag,
    number_list,
    optional_string,
    read_token_id,
    string_list,
)
from edgechain.ml.tokenizers.base import (
    END_OF_GENERATION_TEXTS,
    ChatMessage,
    render_chat_template,
    special_token_variables,
)

TOKEN_CONTROL, TOKEN_USER_DEFINED = 3, 4
_ENCODE_LOCK = threading.Lock()

_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_REGEX = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_decoder() -> dict[str, int]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


BYTE_DECODER = _byte_decoder()


def _split(regex: str) -> Any:
    return pre_tokenizers.Split(tokenizers.Regex(regex), behavior="isolated", invert=False)


def _pre_tokenizer(pre: str) -> Any:
    """llama.cpp's pre-tokenizer for each ``tokenizer.ggml.pre`` value, in `tokenizers` terms."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre in ("default", "gpt2", "gpt-2", "jais", "olmo", "poro-chat", "viking"):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"):
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    if pre in ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe"):
        return pre_tokenizers.Sequence([_split(_LLAMA3_REGEX), byte_level])
    if pre in ("qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"):
        return pre_tokenizers.Sequence([_split(_QWEN2_REGEX), byte_level])
    raise UnsupportedModel(f"GGUF gpt2 tokenizer: unknown pre-tokenizer {pre!r}")


class _ByteLevelBase:
    """Shared by both byte-level tokenizers: ids <-> bytes, EOG ids, chat rendering."""

    _tokenizer: tokenizers.Tokenizer
    _tokens: list[str]
    _types: list[int]
    _bos_id: int | None
    _eos_id: int | None
    _eot_ids: frozenset[int]
    _add_bos: bool
    _add_eos: bool
    _chat_template: str | None
    _byte_level: bool
    _piece_cache: dict[int, bytes]

    def _init_pieces(self, byte_level: bool) -> None:
        """Token bytes are computed on first use: 49k tokens up front cost ~0.3 s of load."""
        self._byte_level = byte_level
        self._piece_cache: dict[int, bytes] = {}

    def _piece(self, token_id: int) -> bytes:
        cached = self._piece_cache.get(token_id)
        if cached is not None:
            return cached
        token, token_type = self._tokens[token_id], self._types[token_id]
        if token_type == TOKEN_CONTROL:
            piece = b""
        elif (
            self._byte_level
            and token_type != TOKEN_USER_DEFINED
            and all(char in BYTE_DECODER for char in token)
        ):
            piece = bytes(BYTE_DECODER[char] for char in token)
        else:
            piece = token.encode("utf-8")
        self._piece_cache[token_id] = piece
        return piece

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def bos_id(self) -> int | None:
        return self._bos_id

    @property
    def eos_id(self) -> int | None:
        return self._eos_id

    @property
    def eot_ids(self) -> frozenset[int]:
        return self._eot_ids

    @property
    def chat_template(self) -> str | None:
        return self._chat_template

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def _encode_backend(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        # `encode_special_tokens` is state on the shared backend: set it and encode under
        # one lock, so that concurrent callers (a service's threads) cannot interleave.
        with _ENCODE_LOCK:
            self._tokenizer.encode_special_tokens = not parse_special
            return list(self._tokenizer.encode(text, add_special_tokens=add_special).ids)

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        ids = self._encode_backend(text, False, parse_special)
        if add_special and self._add_bos and self._bos_id is not None:
            ids.insert(0, self._bos_id)
        if add_special and self._add_eos and self._eos_id is not None:
            ids.append(self._eos_id)
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        if not 0 <= token_id < len(self._tokens):
            raise ModelFormatError(
                f"token id {token_id} outside the vocabulary ({len(self._tokens)})"
            )
        return self._piece(token_id)

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        pieces: list[bytes] = []
        for token_id in ids:
            piece = self.token_bytes(token_id)
            if not piece and not skip_special:
                piece = self._tokens[token_id].encode("utf-8")
            pieces.append(piece)
        return b"".join(pieces).decode("utf-8", errors="replace")

    def render_chat(
        self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True
    ) -> str:
        if self._chat_template is None:
            raise ModelFormatError("this tokenizer has no chat template")
        return render_chat_template(
            self._chat_template,
            messages,
            add_generation_prompt,
            **special_token_variables(self._tokens, self._bos_id, self._eos_id),
        )

    def _eog(self, extra: Sequence[int]) -> frozenset[int]:
        eog = {i for i in extra}
        if self._eos_id is not None:
            eog.add(self._eos_id)
        eog.update(
            index
            for index, (token, kind) in enumerate(zip(self._tokens, self._types, strict=True))
            if kind in (TOKEN_CONTROL, TOKEN_USER_DEFINED) and token in END_OF_GENERATION_TEXTS
        )
        return frozenset(eog)


class GgufBpeTokenizer(_ByteLevelBase):
    """A GGUF ``gpt2`` vocabulary run by the `tokenizers` library."""

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        tokens = string_list(metadata, "tokenizer.ggml.tokens")
        merges = string_list(metadata, "tokenizer.ggml.merges")
        types = number_list(metadata, "tokenizer.ggml.token_type", len(tokens), integer=True)
        self._tokens = list(tokens)
        self._types = [1] * len(tokens) if types is None else [int(t) for t in types]
        pairs: list[tuple[str, str]] = []
        for index, merge in enumerate(merges):
            left, space, right = merge.partition(" ")
            if not space or not left or not right:
                raise ModelFormatError(f"GGUF gpt2 tokenizer: merge {index} {merge!r} is malformed")
            pairs.append((left, right))
        vocab: dict[str, int] = {}
        for index, token in enumerate(self._tokens):
            vocab.setdefault(token, index)
        try:
            model = models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False)
        except Exception as exc:  # the Rust side raises plain Exception on bad merges
            raise ModelFormatError(f"GGUF gpt2 tokenizer: {exc}") from exc
        self._tokenizer = tokenizers.Tokenizer(model)
        pre = optional_string(metadata, "tokenizer.ggml.pre")
        self._tokenizer.pre_tokenizer = _pre_tokenizer(pre or "default")
        self._tokenizer.decoder = decoders.ByteLevel()
        added = [
            tokenizers.AddedToken(token, special=kind == TOKEN_CONTROL, normalized=False)
            for token, kind in zip(self._tokens, self._types, strict=True)
            if kind in (TOKEN_CONTROL, TOKEN_USER_DEFINED) and token
        ]
        self._tokenizer.add_special_tokens(added)
        size = len(tokens)
        self._bos_id = read_token_id(metadata, "tokenizer.ggml.bos_token_id", size)
        self._eos_id = read_token_id(metadata, "tokenizer.ggml.eos_token_id", size)
        self._add_bos = flag(metadata, "tokenizer.ggml.add_bos_token", False)
        self._add_eos = flag(metadata, "tokenizer.ggml.add_eos_token", False)
        self._chat_template = optional_string(metadata, "tokenizer.chat_template")
        extra = [
            value
            for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
            if (value := read_token_id(metadata, key, size)) is not None
        ]
        self._eot_ids = self._eog(extra)
        self._init_pieces(byte_level=True)


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _decoder_steps(decoder: Any) -> list[str]:
    """The decoder's step types, a Sequence flattened (``["Replace", "ByteFallback", ...]``)."""
    if decoder is None:
        return []
    try:
        state = json.loads(decoder.__getstate__())
    except (AttributeError, TypeError, ValueError):
        return [type(decoder).__name__]
    steps: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Sequence":
                for child in node.get("decoders", []):
                    walk(child)
            elif isinstance(node.get("type"), str):
                steps.append(node["type"])

    walk(state)
    return steps


class HFTokenizer(_ByteLevelBase):
    """A Hugging Face ``tokenizer.json`` (with ``tokenizer_config.json`` beside it if any)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        try:
            self._tokenizer = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception for bad files
            raise ModelFormatError(f"tokenizer.json {path}: {exc}") from exc
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self._tokens = [self._tokenizer.id_to_token(i) or "" for i in range(size)]
        added = self._tokenizer.get_added_tokens_decoder()
        self._types = [
            (TOKEN_CONTROL if added[i].special else TOKEN_USER_DEFINED) if i in added else 1
            for i in range(size)
        ]
        config: dict[str, Any] = {}
        config_path = path.parent / "tokenizer_config.json"
        if config_path.exists():
            try:
                loaded = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelFormatError(f"{config_path}: {exc}") from exc
            if isinstance(loaded, dict):
                config = loaded
        self._bos_id = self._token_id(config.get("bos_token"))
        self._eos_id = self._token_id(config.get("eos_token"))
        # The post-processor (e.g. BERT's [CLS] ... [SEP]) adds specials; never twice.
        self._add_bos = False
        self._add_eos = False
        template = config.get("chat_template")
        self._chat_template = template if isinstance(template, str) else None
        self._eot_ids = self._eog([])
        self._decoder_steps = _decoder_steps(self._tokenizer.decoder)
        self._init_pieces(byte_level="ByteLevel" in self._decoder_steps)

    def _piece(self, token_id: int) -> bytes:
        """A token's bytes as the file's decoder makes them (for streaming): byte-level,
        SentencePiece-like ('▁' -> space, ``<0xXX>`` byte fallback) or WordPiece ('##')."""
        if self._byte_level or self._types[token_id] == TOKEN_CONTROL:
            return super()._piece(token_id)
        cached = self._piece_cache.get(token_id)
        if cached is not None:
            return cached
        token = self._tokens[token_id]
        steps = self._decoder_steps
        match = _BYTE_FALLBACK.fullmatch(token)
        if "ByteFallback" in steps and match:
            piece = bytes([int(match.group(1), 16)])
        elif "Metaspace" in steps or "Replace" in steps:
            piece = token.replace("▁", " ").encode("utf-8")
        elif "WordPiece" in steps:
            piece = (token[2:] if token.startswith("##") else " " + token).encode("utf-8")
        else:
            piece = token.encode("utf-8")
        self._piece_cache[token_id] = piece
        return piece

    def _token_id(self, token: Any) -> int | None:
        if isinstance(token, dict):
            token = token.get("content")
        if not isinstance(token, str):
            return None
        return self._tokenizer.token_to_id(token)

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        return self._encode_backend(text, add_special, parse_special)

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=skip_special))

    @property
    def backend(self) -> tokenizers.Tokenizer:
        """The underlying `tokenizers.Tokenizer` (BERT sets its own truncation on a copy)."""
        return self._tokenizer
