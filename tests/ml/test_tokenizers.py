"""Tokenizers on tiny vocabularies written by the tests: SentencePiece-style GGUF and llama2.c
`tokenizer.bin`, GGUF byte-level BPE against the same vocabulary as a HF `tokenizer.json`,
streaming decode and chat templates."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tiny_models import (
    CHAT_TEMPLATE,
    CORPUS,
    TINY_VOCAB_SIZE,
    make_tiny_llama,
    tiny_bpe_vocab,
    tiny_spm_vocab,
    write_gguf,
    write_hf_tokenizer_json,
    write_llama2c_tokenizer,
)

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.formats import read_gguf
from edgechain.ml.tokenizers import (
    GgufBpeTokenizer,
    HFTokenizer,
    SentencePieceTokenizer,
    StreamDecoder,
    Tokenizer,
    load_tokenizer,
    read_llama2c_tokenizer,
    render_chat_template,
    tokenizer_from_model_file,
)

TEXTS = st.text(
    alphabet=st.sampled_from(list("Once upon a time there was Lily.\n 0123 éß中🙂<>|_")),
    max_size=40,
)


def naive_spm(tokens: list[str], scores: list[float], text: str) -> list[str]:
    """run.c's rule, written the slow obvious way: merge the best-scoring pair, leftmost first."""
    ids = {t: i for i, t in enumerate(tokens)}
    symbols = list(text)
    while True:
        best = None
        for index in range(len(symbols) - 1):
            piece = symbols[index] + symbols[index + 1]
            if piece in ids and (best is None or scores[ids[piece]] > best[0]):
                best = (scores[ids[piece]], index)
        if best is None:
            break
        index = best[1]
        symbols[index : index + 2] = [symbols[index] + symbols[index + 1]]
    out: list[str] = []
    for symbol in symbols:
        if symbol in ids:
            out.append(symbol)
        else:
            out.extend(f"<0x{b:02X}>" for b in symbol.encode())
    return out


@pytest.fixture(scope="module")
def spm(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    path = write_gguf(tmp_path_factory.mktemp("spm") / "m.gguf", make_tiny_llama(), "Q8_0")
    return tokenizer_from_model_file(read_gguf(path))


@pytest.fixture(scope="module")
def llama2c(tmp_path_factory: pytest.TempPathFactory) -> SentencePieceTokenizer:
    path = tmp_path_factory.mktemp("l2c") / "tokenizer.bin"
    return read_llama2c_tokenizer(write_llama2c_tokenizer(path, tiny_spm_vocab()))


@pytest.fixture(scope="module")
def gguf_bpe(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    path = write_gguf(
        tmp_path_factory.mktemp("bpe") / "m.gguf", make_tiny_llama(), "F16", tokenizer="gpt2"
    )
    return tokenizer_from_model_file(read_gguf(path))


@pytest.fixture(scope="module")
def hf_bpe(tmp_path_factory: pytest.TempPathFactory) -> HFTokenizer:
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    return HFTokenizer(write_hf_tokenizer_json(path, tiny_bpe_vocab()))


def test_spm_known_encoding(spm: Tokenizer) -> None:
    assert isinstance(spm, SentencePieceTokenizer)
    assert isinstance(spm, Tokenizer)
    assert spm.vocab_size == TINY_VOCAB_SIZE
    ids = spm.encode("Once upon a time")
    pieces = [spm.tokens[i] for i in ids]  # type: ignore[attr-defined]
    assert ids[0] == spm.bos_id == 1
    # the tiny vocabulary knows "▁O", "on", "▁a", "▁t" but not "▁Once" or "▁upon"
    assert pieces == ["<s>", "▁O", "n", "c", "e", "▁", "u", "p", "on", "▁a", "▁t", "i", "m", "e"]
    assert spm.decode(ids) == "Once upon a time"
    assert spm.encode("", add_special=False) == []
    assert spm.encode("") == [1]


@settings(max_examples=150, deadline=None)
@given(text=TEXTS)
def test_spm_matches_the_naive_merge_rule_and_round_trips(
    spm: SentencePieceTokenizer, text: str
) -> None:
    vocab = tiny_spm_vocab()
    ids = spm.encode(text, add_special=False, parse_special=False)
    expected = naive_spm(vocab.tokens, vocab.scores, ("▁" + text).replace(" ", "▁")) if text else []
    assert [vocab.tokens[i] for i in ids] == expected
    assert spm.decode(ids) == text


@settings(max_examples=60, deadline=None)
@given(text=TEXTS)
@example(text="<s>")  # a special token's text, found by Hypothesis: text unless parse_special
def test_llama2c_tokenizer_bin_equals_the_gguf_vocabulary(
    spm: SentencePieceTokenizer, llama2c: SentencePieceTokenizer, text: str
) -> None:
    assert llama2c.encode(text, parse_special=False) == spm.encode(text, parse_special=False)
    assert llama2c.decode(llama2c.encode(text, parse_special=False)) == text  # "<s>" is text here


def test_llama2c_tokenizer_bin_details(llama2c: SentencePieceTokenizer, tmp_path: Path) -> None:
    assert llama2c.vocab_size == TINY_VOCAB_SIZE
    assert (llama2c.bos_id, llama2c.eos_id) == (1, 2)
    assert llama2c.eot_ids == frozenset({2})
    path = write_llama2c_tokenizer(tmp_path / "t.bin", tiny_spm_vocab())
    assert load_tokenizer(path, vocab_size=TINY_VOCAB_SIZE).vocab_size == TINY_VOCAB_SIZE
    blob = path.read_bytes()
    with pytest.raises(ModelFormatError, match=r"truncated|bad length"):
        read_llama2c_tokenizer(blob[:-3])
    with pytest.raises(ModelFormatError, match="cannot fit"):
        read_llama2c_tokenizer(blob, vocab_size=1 << 40)
    with pytest.raises(ModelFormatError, match="max_token_length"):
        read_llama2c_tokenizer(b"\xff\xff\xff\xff" + blob[4:])


def test_spm_special_tokens_are_parsed_only_when_asked(spm: SentencePieceTokenizer) -> None:
    parsed = spm.encode("a</s>b", add_special=False, parse_special=True)
    assert 2 in parsed
    # llama.cpp adds the space prefix again after a special token
    assert [spm.tokens[i] for i in parsed] == ["▁a", "</s>", "▁", "b"]
    literal = spm.encode("a</s>b", add_special=False, parse_special=False)
    assert 2 not in literal
    assert spm.decode(literal) == "a</s>b"


@settings(max_examples=150, deadline=None)
@given(text=TEXTS)
def test_gguf_bpe_equals_hf_tokenizer_json_on_the_same_vocabulary(
    gguf_bpe: Tokenizer, hf_bpe: HFTokenizer, text: str
) -> None:
    ids = gguf_bpe.encode(text)
    assert ids == hf_bpe.encode(text)
    assert gguf_bpe.decode(gguf_bpe.encode(text, parse_special=False)) == text


def test_gguf_bpe_specials_and_template(gguf_bpe: Tokenizer) -> None:
    assert isinstance(gguf_bpe, GgufBpeTokenizer)
    vocab = tiny_bpe_vocab()
    start, end = vocab.bos_id, vocab.eos_id
    ids = gguf_bpe.encode("<|im_start|>user\nOnce<|im_end|>")
    assert ids[0] == start and ids[-1] == end
    assert [vocab.tokens[i] for i in ids[1:-1]] == ["u", "s", "e", "r", "Ċ", "Once"]
    assert start not in gguf_bpe.encode("<|im_start|>", parse_special=False)
    assert gguf_bpe.encode("Once", add_special=True) == gguf_bpe.encode("Once", add_special=False)
    assert gguf_bpe.eot_ids == frozenset({vocab.eos_id, vocab.endoftext_id})
    assert gguf_bpe.chat_template == CHAT_TEMPLATE
    rendered = gguf_bpe.render_chat([{"role": "user", "content": "Hi"}])
    assert rendered == (
        "<|im_start|>system\nYou are a tiny test model<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert gguf_bpe.decode(gguf_bpe.encode(rendered), skip_special=False) == rendered


@pytest.mark.parametrize("fixture", ["spm", "gguf_bpe"])
def test_stream_decoder_emits_only_complete_characters(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    tokenizer: Tokenizer = request.getfixturevalue(fixture)
    text = "Once 🙂 upon ß 中 a time"
    ids = tokenizer.encode(text, add_special=False, parse_special=False)
    decoder = StreamDecoder(tokenizer)
    chunks = [decoder.push(i) for i in ids]
    assert all("\ufffd" not in chunk for chunk in chunks)
    joined = "".join(chunks) + decoder.flush()
    assert joined.lstrip(" ") == text
    assert any(chunk == "" for chunk in chunks)  # the emoji's first bytes waited


def test_stream_decoder_replaces_invalid_bytes(spm: SentencePieceTokenizer) -> None:
    byte_ff = spm.tokens.index("<0xFF>")
    decoder = StreamDecoder(spm)
    assert decoder.push(byte_ff) == "\ufffd"
    byte_e4 = spm.tokens.index("<0xE4>")
    assert decoder.push(byte_e4) == ""
    assert decoder.flush() == "\ufffd"


def test_chat_template_like_transformers() -> None:
    template = (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('no system') }}{% endif %}[{{ m['role'] }}] {{ m['content'] | tojson }}\n"
        "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    rendered = render_chat_template(
        template, [{"role": "user", "content": "é"}], True, bos_token="<s>"
    )
    assert rendered == '<s>[user] "é"\n[assistant]'
    with pytest.raises(ModelFormatError, match="no system"):
        render_chat_template(template, [{"role": "system", "content": "x"}])
    with pytest.raises(ModelFormatError, match="chat template"):
        render_chat_template("{{ ().__class__.__bases__[0].__subclasses__() }}", [])


def test_spm_without_template_refuses_chat(spm: SentencePieceTokenizer) -> None:
    with pytest.raises(ModelFormatError, match="no chat template"):
        spm.render_chat([{"role": "user", "content": "Hi"}])


def test_heap_merge_is_the_naive_rule_on_a_long_text(spm: SentencePieceTokenizer) -> None:
    text = "Once upon a time there was a little girl named Lily. " * 20
    vocab = tiny_spm_vocab()
    ids = spm.encode(text, add_special=False)
    assert [vocab.tokens[i] for i in ids] == naive_spm(
        vocab.tokens, vocab.scores, ("▁" + text).replace(" ", "▁")
    )


MALFORMED_METADATA = {
    "tokens not strings": {"tokenizer.ggml.tokens": [1, 2, 3]},
    "tokens empty": {"tokenizer.ggml.tokens": []},
    "scores too short": {"tokenizer.ggml.scores": np.zeros(3, np.float32)},
    "scores a string": {"tokenizer.ggml.scores": "abc"},
    "types not numbers": {"tokenizer.ggml.token_type": ["a"] * TINY_VOCAB_SIZE},
    "types floats": {"tokenizer.ggml.token_type": np.ones(TINY_VOCAB_SIZE, np.float32)},
    "bos out of range": {"tokenizer.ggml.bos_token_id": 10**9},
    "bos a string": {"tokenizer.ggml.bos_token_id": "x"},
    "eot a string": {"tokenizer.ggml.eot_token_id": "x"},
    "eot out of range": {"tokenizer.ggml.eot_token_id": 10**9},
    "merges not strings": {"tokenizer.ggml.merges": np.arange(4)},
    "merge without space": {"tokenizer.ggml.merges": ["abc"]},
    "merge of unknown tokens": {"tokenizer.ggml.merges": ["zz qq"]},
    "template not a string": {"tokenizer.chat_template": 5},
    "add_bos not a bool": {"tokenizer.ggml.add_bos_token": "no"},
    "pre not a string": {"tokenizer.ggml.pre": 3},
}


def applies_to(kind: str, patch: dict[str, object]) -> bool:
    """SentencePiece vocabularies have no merges or pre-tokenizer; byte-level BPE no scores."""
    if kind == "llama":
        return not any(key.endswith(("merges", "pre")) for key in patch)
    return "tokenizer.ggml.scores" not in patch


@pytest.mark.parametrize(
    ("kind", "case"),
    [
        (kind, case)
        for kind in ("llama", "gpt2")
        for case, patch in MALFORMED_METADATA.items()
        if applies_to(kind, patch)
    ],
)
def test_malformed_tokenizer_metadata_is_a_format_error(
    tmp_path: Path, kind: str, case: str
) -> None:
    patch = MALFORMED_METADATA[case]
    parsed = read_gguf(write_gguf(tmp_path / "m.gguf", make_tiny_llama(), "F16", tokenizer=kind))
    broken = dataclasses.replace(parsed, metadata={**parsed.metadata, **patch})
    with pytest.raises(ModelFormatError):
        tokenizer_from_model_file(broken)


def test_unknown_pre_tokenizer_is_unsupported(tmp_path: Path) -> None:
    parsed = read_gguf(write_gguf(tmp_path / "m.gguf", make_tiny_llama(), "F16", tokenizer="gpt2"))
    broken = dataclasses.replace(
        parsed, metadata={**parsed.metadata, "tokenizer.ggml.pre": "mystery"}
    )
    with pytest.raises(UnsupportedModel, match="mystery"):
        tokenizer_from_model_file(broken)


def test_hf_sentencepiece_style_tokenizer_streams_like_it_decodes(tmp_path: Path) -> None:
    """A Llama-2-style tokenizer.json: '▁' for spaces, <0xXX> byte fallback, Strip decoder."""
    import tokenizers
    from tokenizers import decoders, models, normalizers

    vocab = tiny_spm_vocab()
    bpe = models.BPE(
        vocab={token: index for index, token in enumerate(vocab.tokens)},
        merges=[],
        byte_fallback=True,
        unk_token="<unk>",
        fuse_unk=True,
    )
    backend = tokenizers.Tokenizer(bpe)
    backend.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    backend.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    backend.add_special_tokens([tokenizers.AddedToken(t, special=True) for t in ("<s>", "</s>")])
    backend.save(str(tmp_path / "tokenizer.json"))
    tokenizer = HFTokenizer(tmp_path / "tokenizer.json")
    text = "Once upon a time 🙂 ß"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    decoder = StreamDecoder(tokenizer)
    streamed = "".join(decoder.push(i) for i in ids) + decoder.flush()
    assert streamed == " " + text  # the stream keeps the prefix space the decoder strips


@pytest.fixture(scope="module")
def sentencepiece_pair() -> tuple[object, SentencePieceTokenizer]:
    """A real SentencePiece BPE model trained here (byte fallback), and ours over its pieces."""
    import io

    sentencepiece = pytest.importorskip("sentencepiece")
    corpus = [CORPUS] * 3 + [
        "The quick brown fox jumps over the lazy dog. Élève café naïve 東京 🙂",
        "def f(x):\n    return x * 2\n",
    ]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus * 20),
        model_writer=model,
        vocab_size=420,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        character_coverage=1.0,
        minloglevel=2,
    )
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    size = processor.get_piece_size()
    types = [
        2
        if processor.is_unknown(i)
        else 3
        if processor.is_control(i)
        else 6
        if processor.is_byte(i)
        else 1
        for i in range(size)
    ]
    ours = SentencePieceTokenizer(
        [processor.id_to_piece(i) for i in range(size)],
        [processor.get_score(i) for i in range(size)],
        types,
    )
    return processor, ours


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_spm_equals_the_sentencepiece_library(
    sentencepiece_pair: tuple[Any, SentencePieceTokenizer], text: str
) -> None:
    processor, ours = sentencepiece_pair
    assert ours.encode(text, add_special=False, parse_special=False) == processor.encode(text)
    assert ours.decode(processor.encode(text)) == processor.decode(processor.encode(text))
