"""Publishing a file as blobs through the validators: chunks and manifests certified in blocks,
stored by every validator's content-addressed blob store, readable as one mapped file."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from core_helpers import run

from edgechain.base.blobs import MediaType, split_into_blobs
from edgechain.core.faults import FaultType
from edgechain.core.network import LocalNetwork


def test_file_published_as_blobs_is_stored_by_every_validator(tmp_path: Path) -> None:
    content = random.Random(5).randbytes(20_000)
    network = LocalNetwork.create(validator_count=4, user_chain_count=1, directory=tmp_path)
    network.nodes[3].fault = FaultType.OFFLINE  # catches up later, blobs included
    client = network.client(0)
    with split_into_blobs(
        content,
        chunk_size=400,
        media_type=MediaType.OCTET_STREAM,
        name="weights.bin",
        max_blob_size=512,
    ) as split_file:
        assert len(split_file.manifest_blobs) > 1  # a tree of manifests
        certificates = run(client.publish_split_file(split_file, blobs_per_block=16))
        manifest_id = split_file.manifest_id
        blob_count = len(split_file.chunk_ids) + len(split_file.manifest_blobs)
    assert len(certificates) == -(-blob_count // 16)
    published = [b for c in certificates for b in c.executed_block.block.published_blob_ids]
    assert published[-1] == manifest_id and len(published) == blob_count
    network.nodes[3].fault = None
    run(client.synchronize())  # brings validator 3 up to date, fetching the blobs it lacks
    for storage in network.storages:
        assert storage.blob_store is not None
        with storage.blob_store.open_file(manifest_id) as mapped:
            assert bytes(mapped) == content
    network.close()


class Interrupted(Exception):
    """Stands for a publication cut off part-way (Ctrl-C, a lost connection)."""


def test_an_interrupted_publication_resumes_without_republishing(tmp_path: Path) -> None:
    content = random.Random(6).randbytes(12_000)
    network = LocalNetwork.create(validator_count=4, user_chain_count=1, directory=tmp_path)
    with split_into_blobs(
        content,
        chunk_size=500,
        media_type=MediaType.OCTET_STREAM,
        name="weights.bin",
        max_blob_size=512,
    ) as split_file:
        blob_count = len(split_file.chunk_ids) + len(split_file.manifest_blobs)
        done: list[int] = []

        def stop_after_two_blocks(count: int) -> None:
            done.append(count)
            if len(done) == 2:
                raise Interrupted

        first = network.client(0)
        with contextlib.suppress(Interrupted):
            run(
                first.publish_split_file(
                    split_file, blobs_per_block=8, progress=stop_after_two_blocks
                )
            )
        assert sum(done) == 16  # two blocks of 8 were certified before the cut

        # A new client (a new process, say) of the same chain resumes.
        second = network.client(0)
        run(second.synchronize())
        progress: list[int] = []
        certificates = run(
            second.publish_split_file(split_file, blobs_per_block=8, progress=progress.append)
        )
        manifest_id = split_file.manifest_id
    republished = [b for c in certificates for b in c.executed_block.block.published_blob_ids]
    assert len(republished) == blob_count - 16, "the 16 certified blobs were skipped"
    assert sum(progress) == blob_count  # skipped ones count as done
    assert republished[-1] == manifest_id
    for storage in network.storages:
        assert storage.blob_store is not None
        with storage.blob_store.open_file(manifest_id) as mapped:
            assert bytes(mapped) == content
    network.close()
