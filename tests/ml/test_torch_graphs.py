"""GraphDecoder: the static one-token step (recorded as a CUDA graph on GPUs) against eager steps.

On CPU the static step runs unrecorded (``capture=False``): the same kernels in the same
order as on the GPU minus the recording, so its numerics are checked here; the recording
itself is checked by the ``gpu`` tests. Attention over the whole cache with masked slots
sums in another order than over the written prefix: logits agree within 1e-4 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_torch_backend import PROMPT, assert_parity, kquant_model_file, write_model

from edgechain.ml.errors import BackendUnavailable, ModelFormatError
from edgechain.ml.formats import open_model_file
from edgechain.ml.llama import NumpyBackend, load_llama

torch = pytest.importorskip("torch")

from edgechain.ml.torch_backend import TorchBackend  # noqa: E402
from edgechain.ml.torch_graphs import GraphDecoder  # noqa: E402

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("products", ["torch", "kernels"])
@pytest.mark.parametrize("kind", ["gguf-F32", "gguf-Q8_0", "gguf-Q4_1", "llama2c-v2"])
def test_static_steps_match_numpy(tmp_path: Path, kind: str, products: str) -> None:
    model_file = open_model_file(write_model(tmp_path, kind, tied=kind.endswith("Q4_1")))
    backend = TorchBackend("cpu", products=products)
    decoder = GraphDecoder(load_llama(model_file, backend), capture=False)
    assert decoder.static_steps
    assert_parity(load_llama(model_file, NumpyBackend()), decoder)  # type: ignore[arg-type]


def test_static_steps_match_eager_torch_steps(tmp_path: Path) -> None:
    model = load_llama(open_model_file(write_model(tmp_path, "gguf-F32", False)), TorchBackend())
    decoder = GraphDecoder(model, capture=False)
    eager_state, static_state = model.new_state(32), decoder.new_state(32)
    eager = model.forward(PROMPT, eager_state)
    static = decoder.forward(PROMPT, static_state)
    for _ in range(10):
        token = int(np.argmax(eager))
        eager = model.forward([token], eager_state)
        static = decoder.forward([token], static_state)
        assert static_state.position == eager_state.position
        np.testing.assert_allclose(static, eager, rtol=0, atol=1e-4 * float(np.abs(eager).max()))


def test_sequences_reuse_the_recording_and_decode_the_same(tmp_path: Path) -> None:
    model_file = open_model_file(write_model(tmp_path, "gguf-Q4_1", True))
    model = load_llama(model_file, TorchBackend(products="torch"))
    decoder = GraphDecoder(model, capture=False)
    first = decoder.new_state(32)
    decoder.forward(PROMPT, first)
    first_logits = [decoder.forward([token], first) for token in (3, 4, 5)]
    recording = decoder._recording
    second = decoder.new_state(32)  # same capacity: takes over the recorded cache
    assert second.cache is first.cache and second.position == 0
    decoder.forward(PROMPT[:3], second)
    decoder.forward([9], second)
    assert decoder._recording is recording
    again = decoder.new_state(32)
    decoder.forward(PROMPT, again)
    for token, expected in zip((3, 4, 5), first_logits, strict=True):
        np.testing.assert_array_equal(decoder.forward([token], again), expected)
    other = decoder.new_state(24)  # another capacity: a new cache, recorded anew
    assert other.cache is not first.cache
    decoder.forward(PROMPT, other)
    for token, expected in zip((3, 4, 5), first_logits, strict=True):
        got = decoder.forward([token], other)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * float(np.abs(expected).max()))
    assert decoder._recording is not recording


def test_mixed_type_projections_decode_eagerly() -> None:
    model_file = kquant_model_file(mixed_attention=True)
    decoder = GraphDecoder(load_llama(model_file, TorchBackend("cpu")))
    assert not decoder.static_steps
    assert_parity(load_llama(model_file, NumpyBackend()), decoder)  # type: ignore[arg-type]


def test_uniform_k_quants_run_static_steps() -> None:
    model_file = kquant_model_file(mixed_attention=False)
    decoder = GraphDecoder(load_llama(model_file, TorchBackend("cpu")), capture=False)
    assert decoder.static_steps
    assert_parity(load_llama(model_file, NumpyBackend()), decoder)  # type: ignore[arg-type]


def test_bad_steps_are_refused(tmp_path: Path) -> None:
    model = load_llama(open_model_file(write_model(tmp_path, "gguf-F32", False)), TorchBackend())
    decoder = GraphDecoder(model, capture=False)
    state = decoder.new_state(len(PROMPT) + 1)
    decoder.forward(PROMPT, state)
    with pytest.raises(ModelFormatError, match="token id outside"):
        decoder.forward([model.config.vocab_size], state)
    decoder.forward([1], state)
    with pytest.raises(ValueError, match="exceeds the cache"):
        decoder.forward([1], state)
    assert state.position == len(PROMPT) + 1


def test_graph_decoder_needs_the_torch_backend_and_cuda_to_record(tmp_path: Path) -> None:
    model_file = open_model_file(write_model(tmp_path, "gguf-F32", False))
    with pytest.raises(BackendUnavailable, match="torch backend"):
        GraphDecoder(load_llama(model_file, NumpyBackend()))
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="CUDA graphs need"):
            GraphDecoder(load_llama(model_file, TorchBackend("cpu")), capture=True)
    assert GraphDecoder(load_llama(model_file, TorchBackend("cpu"))).capture is False


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize("kind", ["gguf-F32", "gguf-Q8_0", "gguf-Q4_1"])
def test_recorded_cuda_steps_match_numpy(tmp_path: Path, kind: str) -> None:
    model_file = open_model_file(write_model(tmp_path, kind, tied=kind.endswith("Q4_1")))
    decoder = GraphDecoder(load_llama(model_file, TorchBackend("cuda")))
    assert decoder.capture
    assert_parity(load_llama(model_file, NumpyBackend()), decoder)  # type: ignore[arg-type]
