"""The readers between a request body and the store: the sha256-hashing body of streamed uploads
(hash on a pool thread, in batches) and the S3 chunk reader (exact-size reads, one join)."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from forgeml.services.datasets.parts import HashingBody
from forgeml.storage.base import CHUNK_SIZE
from forgeml.storage.common import PipelinedHash
from forgeml.storage.s3_io import ChunkReader

KIB = 1024


def _pieces(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, count)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_hashing_body_passes_every_byte_in_order_and_hashes_them(seed: int) -> None:
    rng = random.Random(seed)
    data = os.urandom(rng.choice([0, 1, 300 * KIB, 3 * CHUNK_SIZE + 12345]))
    pieces = [*_pieces(data, rng, rng.randint(0, 40)), b""]  # empty pieces are no end
    body = HashingBody(iter(pieces))
    out = []
    while chunk := body.read(rng.choice([1, 4 * KIB, CHUNK_SIZE, 5 * CHUNK_SIZE])):
        out.append(chunk)
    assert b"".join(out) == data
    assert body.hexdigest() == hashlib.sha256(data).hexdigest()


def test_hashing_body_hands_fitting_chunks_over_without_copying() -> None:
    piece = os.urandom(256 * KIB)
    body = HashingBody(iter([piece, piece]))
    assert body.read(CHUNK_SIZE) is piece
    assert body.read(CHUNK_SIZE) is piece
    assert body.read(CHUNK_SIZE) == b""
    assert body.hexdigest() == hashlib.sha256(piece * 2).hexdigest()


def test_hashing_body_hashes_a_reused_buffer_as_it_was_read() -> None:
    buf = bytearray(b"abc" * 100_000)
    original = bytes(buf)
    body = HashingBody(iter([buf, b"tail"]))
    assert body.read(CHUNK_SIZE) is buf  # handed over as is, but hashed later on a pool thread
    buf[:3] = b"XYZ"  # the source reuses its buffer once the store has written it
    assert body.read() == b"tail"  # read(-1): the rest at once
    assert body.hexdigest() == hashlib.sha256(original + b"tail").hexdigest()


def test_pipelined_hash_keeps_order_across_inline_and_pooled_batches() -> None:
    rng = random.Random(7)
    batches = [[os.urandom(rng.choice([10, 100 * KIB, 700 * KIB])) for _ in range(3)]]
    batches += [[os.urandom(rng.randint(0, 400 * KIB))] for _ in range(20)]
    ph, ref = PipelinedHash(hashlib.sha256()), hashlib.sha256()
    for batch in batches:
        ph.update_batch(batch)
        for chunk in batch:
            ref.update(chunk)
    ph.update(b"last")
    ref.update(b"last")
    assert ph.hexdigest() == ref.hexdigest()


@pytest.mark.parametrize("seed", range(6))
def test_chunk_reader_reads_exact_sizes_until_the_end(seed: int) -> None:
    rng = random.Random(seed)
    data = os.urandom(rng.randint(0, 200 * KIB))
    reader = ChunkReader(iter(_pieces(data, rng, rng.randint(0, 30))))
    out = []
    while True:
        n = rng.choice([0, 1, 7, 4 * KIB, 64 * KIB])
        got = reader.read(n)
        out.append(got)
        if len(got) < n:  # a short read is the last one (s3transfer relies on it)
            assert reader.read(1) == b""
            break
    assert b"".join(out) == data


def test_chunk_reader_read_all_and_no_copy_of_a_single_chunk() -> None:
    piece = os.urandom(64 * KIB)
    reader = ChunkReader(iter([piece]))
    assert reader.read(64 * KIB) is piece
    reader = ChunkReader(iter([b"ab", b"", b"cd"]))
    assert reader.read(3) == b"abc"
    assert reader.read() == b"d"
    assert reader.read() == b""
