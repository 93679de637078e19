"""Blobs and manifests: splitting, manifest trees, validation, tree walking."""

from __future__ import annotations

import mmap
import os
import random
import tracemalloc
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgechain.base import BlobId, BlobType, CryptoHash, encode
from edgechain.base.blobs import (
    MAX_NAME_LENGTH,
    Blob,
    InvalidSplitParameters,
    MalformedManifest,
    Manifest,
    ManifestEntry,
    ManifestError,
    ManifestHashMismatch,
    ManifestLengthMismatch,
    ManifestTreeError,
    MediaType,
    parse_manifest,
    split_into_blobs,
    walk_manifest_tree,
)
from edgechain.base.errors import BaseLayerError


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def manifests_by_id(blobs: tuple[Blob, ...]) -> dict[BlobId, Manifest]:
    return {blob.id: parse_manifest(blob.content) for blob in blobs}


def reassemble(
    split_root: BlobId, manifests: dict[BlobId, Manifest], chunks: dict[BlobId, bytes]
) -> bytes:
    return b"".join(
        chunks[location.blob_id]
        for location in walk_manifest_tree(split_root, manifests.__getitem__)
    )


def test_blob_id_is_type_and_blake3_of_content() -> None:
    blob = Blob.data(b"hello")
    assert blob.id == BlobId(BlobType.DATA, CryptoHash(blake3.blake3(b"hello").digest()))
    assert Blob(BlobType.MANIFEST, b"hello").id != blob.id
    assert blob.size == 5


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000, 4321])
def test_split_round_trips_and_hashes_the_whole_file(size: int) -> None:
    data = random_bytes(size, seed=size)
    split = split_into_blobs(data, chunk_size=100, media_type=MediaType.GGUF, name="m.gguf")
    chunks = list(split.iter_chunks())
    assert b"".join(chunk.content for chunk in chunks) == data
    assert all(chunk.blob_type is BlobType.DATA and chunk.size <= 100 for chunk in chunks)
    assert [chunk.id for chunk in chunks] == split.chunk_ids
    pairs = list(split.iter_blobs_with_ids())
    assert [blob_id for blob_id, _ in pairs] == [blob.id for blob in split.iter_blobs()]
    assert all(blob_id == blob.id for blob_id, blob in pairs)
    root = parse_manifest(split.root_manifest.content)
    assert root.total_length == size
    assert root.file_hash.digest == blake3.blake3(data).digest()
    assert root.media_type is MediaType.GGUF
    assert root.name == "m.gguf"
    assert len(split.manifest_blobs) == 1
    assert split.manifest_id == BlobId.for_content(BlobType.MANIFEST, split.root_manifest.content)


def test_chunks_are_produced_lazily_and_repeated_chunks_once() -> None:
    data = bytes(300) + b"x" * 100 + bytes(100)
    split = split_into_blobs(data, chunk_size=100)
    chunk_iterator = split.iter_chunks()
    assert not isinstance(chunk_iterator, list)
    chunks = list(chunk_iterator)
    assert len(split.chunk_entries) == 5
    assert [chunk.content for chunk in chunks] == [bytes(100), b"x" * 100]
    assert (
        reassemble(
            split.manifest_id,
            manifests_by_id(split.manifest_blobs),
            {chunk.id: chunk.content for chunk in chunks},
        )
        == data
    )


def test_a_manifest_over_the_limit_becomes_a_tree_that_fits() -> None:
    data = random_bytes(20_000, seed=7)
    limit = 300
    split = split_into_blobs(data, chunk_size=64, max_blob_size=limit, name="tree")
    assert len(split.manifest_blobs) > 2
    assert all(blob.size <= limit for blob in split.manifest_blobs)
    manifests = manifests_by_id(split.manifest_blobs)
    root = manifests[split.manifest_id]
    assert root.is_tree_node
    # Every node describes its own segment: its length and BLAKE3 match the bytes it covers.
    chunks = {chunk.id: chunk.content for chunk in split.iter_chunks()}
    for manifest_id in manifests:
        segment = reassemble(manifest_id, manifests, chunks)
        assert len(segment) == manifests[manifest_id].total_length
        assert CryptoHash.of_bytes(segment) == manifests[manifest_id].file_hash
    assert reassemble(split.manifest_id, manifests, chunks) == data
    # Children come before their parents, so a store that needs children first accepts them.
    position = {blob.id: index for index, blob in enumerate(split.manifest_blobs)}
    for manifest_id, manifest in manifests.items():
        for entry in manifest.entries:
            if entry.blob_id.blob_type is BlobType.MANIFEST:
                assert position[entry.blob_id] < position[manifest_id]


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000), chunk_size=st.integers(1, 400))
def test_split_property_round_trip(data: bytes, chunk_size: int) -> None:
    split = split_into_blobs(data, chunk_size=chunk_size, max_blob_size=max(chunk_size, 400))
    manifests = manifests_by_id(split.manifest_blobs)
    chunks = {chunk.id: chunk.content for chunk in split.iter_chunks()}
    assert reassemble(split.manifest_id, manifests, chunks) == data
    assert manifests[split.manifest_id].file_hash == CryptoHash.of_bytes(data)


def test_split_of_a_read_only_mmap_with_page_dropping(tmp_path: Path) -> None:
    data = random_bytes(3 * mmap.PAGESIZE + 17, seed=3)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
        with split_into_blobs(mapping, 1000, max_blob_size=1000, drop_pages=True) as split:
            assert b"".join(chunk.content for chunk in split.iter_chunks()) == data
            root = parse_manifest(split.root_manifest.content)
        assert root.file_hash == CryptoHash.of_bytes(data)
        with pytest.raises(ValueError, match="released"):
            list(split.iter_chunks())


def test_split_rejects_parameters_that_cannot_work() -> None:
    with pytest.raises(InvalidSplitParameters, match="chunk size"):
        split_into_blobs(b"abc", chunk_size=200, max_blob_size=100)
    with pytest.raises(InvalidSplitParameters, match="chunk size"):
        split_into_blobs(b"abc", chunk_size=0)
    with pytest.raises(InvalidSplitParameters, match="two entries"):
        split_into_blobs(b"abc" * 100, chunk_size=10, max_blob_size=60)
    with pytest.raises(InvalidSplitParameters, match="name"):
        split_into_blobs(b"abc", chunk_size=10, name="n" * (MAX_NAME_LENGTH + 1))
    with pytest.raises(InvalidSplitParameters, match="deeper"):
        split_into_blobs(bytes(range(256)) * 40, chunk_size=1, max_blob_size=200)
    assert issubclass(InvalidSplitParameters, BaseLayerError)


def chunk_entry(content: bytes) -> ManifestEntry:
    return ManifestEntry(BlobId.for_content(BlobType.DATA, content), len(content))


def test_validate_rejects_lengths_that_do_not_add_up() -> None:
    entries = (chunk_entry(b"abc"), chunk_entry(b"de"))
    good = Manifest(entries, 5, CryptoHash.of_bytes(b"abcde"), MediaType.OCTET_STREAM)
    good.validate()
    with pytest.raises(ManifestLengthMismatch, match="add up to 5 bytes, the manifest declares 6"):
        Manifest(entries, 6, good.file_hash, MediaType.OCTET_STREAM).validate()
    zero_entry = ManifestEntry(entries[0].blob_id, 0)
    with pytest.raises(ManifestLengthMismatch, match="length 0"):
        Manifest((zero_entry, entries[1]), 2, good.file_hash, MediaType.OCTET_STREAM).validate()
    # parse_manifest validates too, so such a blob never parses.
    with pytest.raises(ManifestLengthMismatch):
        parse_manifest(encode(Manifest(entries, 6, good.file_hash, MediaType.OCTET_STREAM)))
    assert issubclass(ManifestLengthMismatch, ManifestError)
    assert issubclass(ManifestError, BaseLayerError)


def test_validate_rejects_mixed_or_foreign_entry_types_and_bad_empty_hash() -> None:
    data_entry = chunk_entry(b"abc")
    manifest_entry = ManifestEntry(BlobId.for_content(BlobType.MANIFEST, b"x"), 3)
    with pytest.raises(MalformedManifest, match="not a mix"):
        Manifest((data_entry, manifest_entry), 6, CryptoHash(bytes(32)), MediaType.GGUF).validate()
    bytecode = ManifestEntry(BlobId.for_content(BlobType.CONTRACT_BYTECODE, b"abc"), 3)
    with pytest.raises(MalformedManifest):
        Manifest((bytecode,), 3, CryptoHash(bytes(32)), MediaType.GGUF).validate()
    with pytest.raises(ManifestHashMismatch):
        Manifest((), 0, CryptoHash(bytes(32)), MediaType.GGUF).validate()
    Manifest((), 0, CryptoHash.of_bytes(b""), MediaType.GGUF).validate()


def test_parse_manifest_rejects_garbage_with_a_typed_error() -> None:
    with pytest.raises(MalformedManifest, match="not a canonical manifest"):
        parse_manifest(b"\x00garbage")
    with pytest.raises(MalformedManifest):
        parse_manifest(encode(["not", "a", "manifest"]))


def test_manifest_encoding_round_trips() -> None:
    manifest = Manifest(
        (chunk_entry(b"abc"),), 3, CryptoHash.of_bytes(b"abc"), MediaType.TOKENIZER_JSON
    )
    assert parse_manifest(manifest.to_blob().content) == manifest
    assert Blob.of_manifest(manifest).blob_type is BlobType.MANIFEST


def test_walk_detects_a_cycle_and_a_tree_too_deep() -> None:
    cyclic_id = BlobId.for_content(BlobType.MANIFEST, b"cyclic")
    cyclic = Manifest((ManifestEntry(cyclic_id, 4),), 4, CryptoHash(bytes(32)), MediaType.GGUF)
    with pytest.raises(ManifestTreeError, match="cycle"):
        list(walk_manifest_tree(cyclic_id, {cyclic_id: cyclic}.__getitem__))

    # A chain of manifests, each with one child, four levels deep.
    leaf = Manifest((chunk_entry(b"abcd"),), 4, CryptoHash.of_bytes(b"abcd"), MediaType.GGUF)
    manifests = {}
    current_id, current = BlobId.for_content(BlobType.MANIFEST, encode(leaf)), leaf
    manifests[current_id] = current
    for _ in range(3):
        parent = Manifest((ManifestEntry(current_id, 4),), 4, leaf.file_hash, MediaType.GGUF)
        current_id, current = BlobId.for_content(BlobType.MANIFEST, encode(parent)), parent
        manifests[current_id] = current
    assert len(list(walk_manifest_tree(current_id, manifests.__getitem__, max_depth=3))) == 1
    with pytest.raises(ManifestTreeError, match="deeper than 2"):
        list(walk_manifest_tree(current_id, manifests.__getitem__, max_depth=2))


def test_walk_detects_a_child_whose_length_differs_from_its_entry() -> None:
    leaf = Manifest((chunk_entry(b"abcd"),), 4, CryptoHash.of_bytes(b"abcd"), MediaType.GGUF)
    leaf_id = leaf.to_blob().id
    root = Manifest((ManifestEntry(leaf_id, 5),), 5, CryptoHash(bytes(32)), MediaType.GGUF)
    root_id = root.to_blob().id
    manifests = {leaf_id: leaf, root_id: root}
    with pytest.raises(ManifestLengthMismatch, match="gives child"):
        list(walk_manifest_tree(root_id, manifests.__getitem__))
    with pytest.raises(MalformedManifest, match="not a manifest id"):
        list(walk_manifest_tree(chunk_entry(b"x").blob_id, manifests.__getitem__))


@pytest.mark.parametrize(
    ("file_name", "media_type"),
    [
        ("models/SmolLM2.Q4_1.gguf", MediaType.GGUF),
        ("model.safetensors", MediaType.SAFETENSORS),
        ("tokenizer.json", MediaType.TOKENIZER_JSON),
        ("tokenizer.bin", MediaType.TOKENIZER_BIN),
        ("stories15M.bin", MediaType.LLAMA2C),
        ("notes.txt", MediaType.OCTET_STREAM),
    ],
)
def test_media_type_for_file_name(file_name: str, media_type: MediaType) -> None:
    assert MediaType.for_file_name(file_name) is media_type


def test_split_and_chunk_iteration_never_copy_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(8 << 20))
    chunk_size = 64 << 10
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
        tracemalloc.start()
        try:
            with split_into_blobs(mapping, chunk_size=chunk_size) as split:
                total = sum(chunk.size for chunk in split.iter_chunks())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == 8 << 20
    # A chunk or two in flight plus the chunk list and manifest: far below the 8 MiB file.
    assert peak < 4 * chunk_size + (256 << 10), peak


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=200))
def test_parse_manifest_of_arbitrary_bytes_fails_only_with_a_manifest_error(content: bytes) -> None:
    try:
        manifest = parse_manifest(content)
    except ManifestError:
        return
    assert encode(manifest) == content  # whatever parses is canonical


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(-3, 1 << 40), max_size=5),
    total=st.integers(0, 1 << 42),
)
def test_parse_manifest_accepts_exactly_the_lengths_that_add_up(
    lengths: list[int], total: int
) -> None:
    entries = tuple(
        ManifestEntry(BlobId.for_content(BlobType.DATA, bytes([index])), length)
        for index, length in enumerate(lengths)
    )
    content = encode(Manifest(entries, total, CryptoHash(bytes(32)), MediaType.GGUF))
    adds_up = all(length > 0 for length in lengths) and sum(lengths) == total and total > 0
    if adds_up:
        assert parse_manifest(content).total_length == total
    else:
        with pytest.raises(ManifestError):
            parse_manifest(content)
