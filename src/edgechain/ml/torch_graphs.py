"""One-token decode steps of a Llama on the torch backend, captured once as a CUDA graph.

A decode step of a small model on a GPU is bound by the host: a few thousand tiny
kernels, each launched from Python. `GraphDecoder` records one step's kernels once per
sequence (a CUDA graph) and replays them: the token and its position are the only
inputs, copied to the device before each replay, and the logits the only output.

It wraps an unchanged `LlamaModel` built on a `TorchBackend`: while it records, the
backend runs in *static* mode (`TorchBackend.static`): embed reads the token from the
device, RoPE gathers its sin/cos row by the device-held position, attention writes the
new key/value at that position and attends over the whole cache with later slots masked
(same shapes at every step), and ``to_numpy`` hands the logits tensor back instead of
copying it. Prompts (several tokens) run eagerly, as before.

    decoder = GraphDecoder(load_llama(model_file, TorchBackend("cuda")))
    state = decoder.new_state(512)
    logits = decoder.forward(prompt_ids, state)       # eager batched prefill
    logits = decoder.forward([next_id], state)        # recorded once, then replayed
    state = decoder.new_state(512)                    # the next sequence replays it too

``capture=False`` runs the same static step without recording (any device): the tests
use it on CPU to check the static path against the eager one. Files whose q/k/v or
gate/up mix tensor types (the model joins those products on the host) decode eagerly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgechain.ml.errors import BackendUnavailable, ModelFormatError
from edgechain.ml.llama import LlamaConfig, LlamaModel, LlamaState
from edgechain.ml.torch_backend import StaticStep, TorchBackend, TorchKVCache, import_torch

if TYPE_CHECKING:
    import torch


@dataclass(eq=False)
class _Recording:
    """The recorded step of one sequence (one KV cache)."""

    cache: TorchKVCache
    """The cache the step reads and writes (a new sequence records anew)."""
    static: StaticStep
    """Its device-held inputs and its logits."""
    host_inputs: torch.Tensor
    """(2,) int64 (pinned on CUDA): token and position, copied to the device each step."""
    inputs: torch.Tensor
    """(2,) int64 on the device: ``static.token`` and ``static.position`` are its views."""
    graph: Any
    """The torch.cuda.CUDAGraph, or None when the step runs without recording."""


class GraphDecoder:
    """`LlamaModel.forward` with one-token steps replayed from a recorded CUDA graph."""

    def __init__(self, model: LlamaModel, capture: bool | None = None) -> None:
        import_torch()
        import torch

        self.torch = torch
        if not isinstance(model.backend, TorchBackend):
            raise BackendUnavailable(f"GraphDecoder needs the torch backend, not {model.backend.name!r}")
        self.model = model
        self.backend: TorchBackend = model.backend
        on_cuda = self.backend.device.type == "cuda"
        self.capture = on_cuda if capture is None else capture
        if self.capture and not on_cuda:
            raise BackendUnavailable("CUDA graphs need device='cuda'")
        mixed = any(len(layer.qkv) > 1 or len(layer.gate_up) > 1 for layer in model.layers)
        self.static_steps = not mixed
        """False for files that mix types inside q/k/v or gate/up: those decode eagerly."""
        if mixed:
            self.capture = False
        self._recording: _Recording | None = None

    @property
    def config(self) -> LlamaConfig:
        return self.model.config

    def new_state(self, capacity: int | None = None) -> LlamaState:
        """A fresh sequence. One of the recorded capacity takes over the recorded cache, so
        the recording is replayed rather than made again: a decoder runs one sequence at a
        time, and a new state ends the previous one."""
        size = self.config.context_length if capacity is None else capacity
        size = min(size, self.config.context_length)
        if self._recording is not None and self._recording.cache.capacity == size:
            # Slots left by the previous sequence are finite, and masked until rewritten.
            return LlamaState(self._recording.cache)
        return self.model.new_state(size)

    def forward(self, ids: Sequence[int], state: LlamaState, all_logits: bool = False) -> np.ndarray:
        """As `LlamaModel.forward`; one-token steps without ``all_logits`` run recorded."""
        if len(ids) != 1 or all_logits or not self.static_steps:
            return self.model.forward(ids, state, all_logits)
        token = int(ids[0])
        if not 0 <= token < self.config.vocab_size:
            raise ModelFormatError(f"token id outside 0..{self.config.vocab_size - 1}")
        position = state.position
        if position + 1 > state.cache.capacity:
            raise ValueError(
                f"sequence of {position + 1} positions exceeds the cache's {state.cache.capacity}"
            )
        recording = self._recording_for(state)
        recording.host_inputs[0] = token
        recording.host_inputs[1] = position
        recording.inputs.copy_(recording.host_inputs, non_blocking=True)
        if recording.graph is not None:
            recording.graph.replay()
        else:
            self._run_static(recording, state)
        state.position = position + 1
        logits = recording.static.logits
        if logits is None:
            raise BackendUnavailable("the recorded step produced no logits")
        # the one wait of the step: the copy of the logits to the host
        host: np.ndarray = self.backend.to_numpy(logits)[0]
        return host

    # ------------------------------------------------------------------ recording

    def _run_static(self, recording: _Recording, state: LlamaState) -> None:
        """One pass of the model in static mode (the token and position come from the device)."""
        position = state.position
        backend = self.backend
        backend.static = recording.static
        recording.static.logits = None
        try:
            # position 0 for the model's own bookkeeping: the backend ignores it in static mode
            state.position = 0
            self.model.forward([0], state)
        finally:
            backend.static = None
            state.position = position

    def _recording_for(self, state: LlamaState) -> _Recording:
        cache = state.cache
        if self._recording is not None and self._recording.cache is cache:
            return self._recording
        torch = self.torch
        device = self.backend.device
        # Unwritten slots are read (masked, weight 0) by the static step: they must be finite.
        cache.keys[:, :, state.position :].zero_()
        cache.values[:, :, state.position :].zero_()
        inputs = torch.zeros(2, dtype=torch.int64, device=device)
        host_inputs = torch.zeros(2, dtype=torch.int64, pin_memory=device.type == "cuda")
        static = StaticStep(
            token=inputs[0:1],
            position=inputs[1:2],
            slots=torch.arange(cache.capacity, dtype=torch.int64, device=device),
        )
        recording = _Recording(cache, static, host_inputs, inputs, None)
        if self.capture:
            host_inputs[0] = 0
            host_inputs[1] = state.position  # warm-up writes there; the first real step overwrites
            inputs.copy_(host_inputs)
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(2):  # lazy initialisations (cuBLAS) must not happen while recording
                    self._run_static(recording, state)
            torch.cuda.current_stream(device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            backend = self.backend
            saved_position = state.position
            backend.static = static
            static.logits = None
            try:
                state.position = 0
                with torch.cuda.graph(graph):
                    self.model.forward([0], state)
            finally:
                backend.static = None
                state.position = saved_position
            recording.graph = graph
        self._recording = recording
        return recording


__all__ = ["GraphDecoder"]
