"""SentencePiece-style tokenizers: a GGUF ``llama`` vocabulary and llama2.c's ``tokenizer.bin``.

Encoding follows llama.cpp's ``llm_tokenizer_spm``: spaces become '▁' (with a '▁' prefix
at the start and after every special token when the vocabulary says so), the text is
split into UTF-8 characters, and the adjacent pair whose concatenation is the
highest-scoring piece merges first (ties: leftmost), until no pair is a piece. A symbol
that is not a piece is re-split along the merges that built it, or falls back to its
bytes (``<0xXX>`` pieces). llama2.c's run.c uses the same greedy rule. Special-token
texts are read as their tokens (control tokens only with ``parse_special``, user-defined
ones always), longest first, as llama.cpp does.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats._source import ModelSource, open_source
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

TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = (
    1,
    2,
    3,
    4,
    5,
    6,
)
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
MAX_TOKENIZER_VOCAB = 1 << 22


class SentencePieceTokenizer:
    """A scored-piece vocabulary with byte fallback (llama, llama2.c, Mistral, ...)."""

    def __init__(
        self,
        tokens: Sequence[str],
        scores: Sequence[float],
        token_types: Sequence[int],
        *,
        bos_id: int | None = 1,
        eos_id: int | None = 2,
        unk_id: int | None = 0,
        eot_ids: Sequence[int] = (),
        add_bos: bool = True,
        add_eos: bool = False,
        add_space_prefix: bool = True,
        chat_template: str | None = None,
    ) -> None:
        if not len(tokens) == len(scores) == len(token_types):
            raise ModelFormatError(
                f"SentencePiece vocabulary: {len(tokens)} tokens, {len(scores)} scores, "
                f"{len(token_types)} types"
            )
        self._tokens = list(tokens)
        self._scores = [float(s) for s in scores]
        self._types = [int(t) for t in token_types]
        self._ids: dict[str, int] = {}
        for index, token in enumerate(self._tokens):
            self._ids.setdefault(token, index)
        for name, value in (("bos", bos_id), ("eos", eos_id), ("unk", unk_id)):
            if value is not None and not 0 <= value < len(self._tokens):
                raise ModelFormatError(f"SentencePiece vocabulary: {name} id {value} out of range")
        self._bos_id = bos_id
        self._eos_id = eos_id
        self._unk_id = unk_id
        self._add_bos = add_bos
        self._add_eos = add_eos
        self._add_space_prefix = add_space_prefix
        self._chat_template = chat_template
        self._byte_ids: dict[int, int] = {}
        self._piece_bytes: list[bytes] = []
        for index, (token, token_type) in enumerate(zip(self._tokens, self._types, strict=True)):
            match = _BYTE_PIECE.fullmatch(token)
            if token_type == TOKEN_BYTE and match:
                self._byte_ids.setdefault(int(match.group(1), 16), index)
                self._piece_bytes.append(bytes([int(match.group(1), 16)]))
            elif token_type in (TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_UNUSED):
                self._piece_bytes.append(b"")
            else:
                self._piece_bytes.append(token.replace("▁", " ").encode("utf-8"))
        self._specials = sorted(
            (
                (token, index, self._types[index] == TOKEN_USER_DEFINED)
                for index, token in enumerate(self._tokens)
                if self._types[index] in (TOKEN_CONTROL, TOKEN_USER_DEFINED) and token
            ),
            key=lambda item: -len(item[0]),
        )
        eog = set(eot_ids)
        if eos_id is not None:
            eog.add(eos_id)
        eog.update(index for token, index, _ in self._specials if token in END_OF_GENERATION_TEXTS)
        self._eot_ids = frozenset(eog)

    # ------------------------------------------------------------------ properties

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

    # ------------------------------------------------------------------ encode

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        ids: list[int] = []
        previous_special = True
        if add_special and self._add_bos and self._bos_id is not None:
            ids.append(self._bos_id)
        for fragment, token_id in self._split_specials(text, parse_special):
            if token_id is not None:
                ids.append(token_id)
                previous_special = True
                continue
            if self._add_space_prefix and previous_special:
                fragment = " " + fragment
            self._encode_fragment(fragment.replace(" ", "▁"), ids)
            previous_special = False
        if add_special and self._add_eos and self._eos_id is not None:
            ids.append(self._eos_id)
        return ids

    def _split_specials(self, text: str, parse_special: bool) -> list[tuple[str, int | None]]:
        fragments: list[tuple[str, int | None]] = [(text, None)] if text else []
        for token, token_id, always in self._specials:
            if not (parse_special or always):
                continue
            split: list[tuple[str, int | None]] = []
            for fragment, fragment_id in fragments:
                if fragment_id is not None or token not in fragment:
                    split.append((fragment, fragment_id))
                    continue
                parts = fragment.split(token)
                for position, part in enumerate(parts):
                    if position:
                        split.append((token, token_id))
                    if part:
                        split.append((part, None))
            fragments = split
        return fragments

    def _encode_fragment(self, text: str, ids: list[int]) -> None:
        symbols = list(text)
        if not symbols:
            return
        previous = list(range(-1, len(symbols) - 1))
        following = [*range(1, len(symbols)), -1]
        alive = [True] * len(symbols)
        merged_from: dict[str, tuple[str, str]] = {}
        queue: list[tuple[float, int, int, str]] = []

        def push_pair(left: int, right: int) -> None:
            if left < 0 or right < 0:
                return
            piece = symbols[left] + symbols[right]
            token_id = self._ids.get(piece)
            if token_id is None:
                return
            heapq.heappush(queue, (-self._scores[token_id], left, right, piece))

        for index in range(len(symbols) - 1):
            push_pair(index, index + 1)
        while queue:
            _, left, right, piece = heapq.heappop(queue)
            if not (alive[left] and alive[right]) or following[left] != right:
                continue
            if symbols[left] + symbols[right] != piece:
                continue
            merged_from[piece] = (symbols[left], symbols[right])
            symbols[left] = piece
            alive[right] = False
            following[left] = following[right]
            if following[right] >= 0:
                previous[following[right]] = left
            push_pair(previous[left], left)
            push_pair(left, following[left])
        index = 0
        while index >= 0:
            self._resegment(symbols[index], merged_from, ids)
            index = following[index]

    def _resegment(
        self, symbol: str, merged_from: dict[str, tuple[str, str]], ids: list[int]
    ) -> None:
        token_id = self._ids.get(symbol)
        if token_id is not None:
            ids.append(token_id)
            return
        parts = merged_from.get(symbol)
        if parts is not None:
            self._resegment(parts[0], merged_from, ids)
            self._resegment(parts[1], merged_from, ids)
            return
        for byte in symbol.encode("utf-8"):
            byte_id = self._byte_ids.get(byte, self._unk_id)
            if byte_id is None:
                raise ModelFormatError(
                    f"SentencePiece vocabulary has no piece for byte {byte:#04x}"
                )
            ids.append(byte_id)

    # ------------------------------------------------------------------ decode

    def token_bytes(self, token_id: int) -> bytes:
        if not 0 <= token_id < len(self._piece_bytes):
            raise ModelFormatError(
                f"token id {token_id} outside the vocabulary ({len(self._tokens)})"
            )
        return self._piece_bytes[token_id]

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        pieces: list[bytes] = []
        for token_id in ids:
            piece = self.token_bytes(token_id)
            if not piece and not skip_special and self._types[token_id] == TOKEN_CONTROL:
                piece = self._tokens[token_id].encode("utf-8")
            pieces.append(piece)
        data = b"".join(pieces)
        if self._add_space_prefix and data.startswith(b" "):
            data = data[1:]
        return data.decode("utf-8", errors="replace")

    def render_chat(
        self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True
    ) -> str:
        if self._chat_template is None:
            raise ModelFormatError("this vocabulary has no chat template")
        return render_chat_template(
            self._chat_template,
            messages,
            add_generation_prompt,
            **special_token_variables(self._tokens, self._bos_id, self._eos_id),
        )


def spm_from_gguf_metadata(metadata: Mapping[str, Any]) -> SentencePieceTokenizer:
    """The ``tokenizer.ggml.*`` keys of a GGUF ``llama`` vocabulary."""
    tokens = string_list(metadata, "tokenizer.ggml.tokens")
    size = len(tokens)
    scores = number_list(metadata, "tokenizer.ggml.scores", size, integer=False)
    types = number_list(metadata, "tokenizer.ggml.token_type", size, integer=True)
    eot = [
        value
        for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
        if (value := read_token_id(metadata, key, size)) is not None
    ]
    return SentencePieceTokenizer(
        tokens,
        [0.0] * size if scores is None else scores,
        [TOKEN_NORMAL] * size if types is None else [int(t) for t in types],
        bos_id=read_token_id(
            metadata, "tokenizer.ggml.bos_token_id", size, 1 if size > 1 else None
        ),
        eos_id=read_token_id(
            metadata, "tokenizer.ggml.eos_token_id", size, 2 if size > 2 else None
        ),
        unk_id=read_token_id(metadata, "tokenizer.ggml.unknown_token_id", size, 0),
        eot_ids=eot,
        add_bos=flag(metadata, "tokenizer.ggml.add_bos_token", True),
        add_eos=flag(metadata, "tokenizer.ggml.add_eos_token", False),
        add_space_prefix=flag(metadata, "tokenizer.ggml.add_space_prefix", True),
        chat_template=optional_string(metadata, "tokenizer.chat_template"),
    )


def read_llama2c_tokenizer(
    source: ModelSource, vocab_size: int | None = None
) -> SentencePieceTokenizer:
    """llama2.c ``tokenizer.bin``: uint32 max_token_length, then per token a float32
    score, an int32 length and the piece's bytes (spaces, not '▁'; BOS/EOS as
    "\\n<s>\\n"/"\\n</s>\\n"). Without `vocab_size`, tokens are read to the end of the file."""
    byte_source = open_source(source, "llama2.c tokenizer")
    data = byte_source.data
    name = byte_source.name
    if data.size < 4:
        raise ModelFormatError(f"llama2.c tokenizer {name}: too short for a header")
    max_length = int(data[:4].view("<u4")[0])
    if not 0 < max_length <= 1 << 16:
        raise ModelFormatError(
            f"llama2.c tokenizer {name}: max_token_length {max_length} is absurd"
        )
    if vocab_size is not None and not 0 < vocab_size <= min(
        MAX_TOKENIZER_VOCAB, (data.size - 4) // 8
    ):
        raise ModelFormatError(
            f"llama2.c tokenizer {name}: {vocab_size} tokens cannot fit in the file"
        )
    raw = data.tobytes()
    offset = 4
    tokens: list[str] = []
    scores: list[float] = []
    while offset < len(raw) and (vocab_size is None or len(tokens) < vocab_size):
        if offset + 8 > len(raw):
            raise ModelFormatError(f"llama2.c tokenizer {name}: token {len(tokens)} is truncated")
        score = float(np.frombuffer(raw, "<f4", 1, offset)[0])
        length = int.from_bytes(raw[offset + 4 : offset + 8], "little", signed=True)
        offset += 8
        if not 0 <= length <= max_length or offset + length > len(raw):
            raise ModelFormatError(
                f"llama2.c tokenizer {name}: token {len(tokens)} has bad length {length}"
            )
        tokens.append(raw[offset : offset + length].decode("utf-8", errors="replace"))
        scores.append(score)
        offset += length
    if vocab_size is not None and len(tokens) < vocab_size:
        raise ModelFormatError(
            f"llama2.c tokenizer {name}: {len(tokens)} tokens, expected {vocab_size}"
        )
    if len(tokens) < 3:
        raise ModelFormatError(f"llama2.c tokenizer {name}: only {len(tokens)} tokens")
    types: list[int] = []
    pieces: list[str] = []
    for index, token in enumerate(tokens):
        if index == 0:
            types.append(TOKEN_UNKNOWN)
            pieces.append("<unk>")
        elif index in (1, 2):
            types.append(TOKEN_CONTROL)
            pieces.append("<s>" if index == 1 else "</s>")
        elif _BYTE_PIECE.fullmatch(token):
            types.append(TOKEN_BYTE)
            pieces.append(token)
        else:
            types.append(TOKEN_NORMAL)
            pieces.append(token.replace(" ", "▁"))
    return SentencePieceTokenizer(
        pieces, scores, types, bos_id=1, eos_id=2, unk_id=0, add_bos=True, add_space_prefix=True
    )
