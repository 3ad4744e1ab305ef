"""Raw payloads kept byte-for-byte, content-addressed by sha256, under an fsspec URL."""

from __future__ import annotations

import hashlib
import uuid
from typing import BinaryIO

import fsspec

STREAM_CHUNK_BYTES = 1 << 20  # what `archive_stream` holds at a time


def sha256_of(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def archive_path(archive_url: str, feed: str, sha256: str) -> str:
    return f"{archive_url.rstrip('/')}/{feed}/{sha256[:2]}/{sha256}"


def archive_payload(archive_url: str, feed: str, payload: bytes) -> tuple[str, str]:
    """Store the payload once (write-once: same bytes, same path) and return (sha256, archive path)."""
    digest = sha256_of(payload)
    path = archive_path(archive_url, feed, digest)
    fs, fs_path = fsspec.core.url_to_fs(path)
    if not fs.exists(fs_path):
        fs.makedirs(fs_path.rsplit("/", 1)[0], exist_ok=True)
        # A temporary name of its own: two runs archiving the same bytes at once must not take each
        # other's file away (the same content ends at the same path whoever renames last).
        temporary = f"{fs_path}.{uuid.uuid4().hex}.partial"
        with fs.open(temporary, "wb") as handle:
            handle.write(payload)
        fs.mv(temporary, fs_path)
    return digest, path


def archive_stream(
    archive_url: str, feed: str, source: BinaryIO, chunk_bytes: int = STREAM_CHUNK_BYTES
) -> tuple[str, str]:
    """Store what `source` reads, a chunk at a time, hashing as it goes; (sha256, archive path) as
    `archive_payload` returns them, at the same content address and as safely (a temporary name of its own,
    renamed into place; bytes already archived are left as they are). For a file too large to hold."""
    digest = hashlib.sha256()
    fs, feed_path = fsspec.core.url_to_fs(f"{archive_url.rstrip('/')}/{feed}")
    fs.makedirs(feed_path, exist_ok=True)
    temporary = f"{feed_path}/{uuid.uuid4().hex}.partial"  # the address is known only at the end
    try:
        with fs.open(temporary, "wb") as handle:
            while chunk := source.read(chunk_bytes):
                digest.update(chunk)
                handle.write(chunk)
        sha256 = digest.hexdigest()
        path = archive_path(archive_url, feed, sha256)
        fs_path = fsspec.core.url_to_fs(path)[1]
        if fs.exists(fs_path):
            fs.rm(temporary)  # write-once: the same bytes are there already
        else:
            fs.makedirs(fs_path.rsplit("/", 1)[0], exist_ok=True)
            fs.mv(temporary, fs_path)
    finally:
        if fs.exists(temporary):  # a source that failed mid-way leaves nothing behind
            fs.rm(temporary)
    return sha256, path


def read_archived(archive_url: str, feed: str, sha256: str) -> bytes:
    """The archived payload, checked against its address, for replaying a load."""
    with fsspec.open(archive_path(archive_url, feed, sha256), "rb") as handle:
        payload = handle.read()
    if sha256_of(payload) != sha256:
        raise ValueError(
            f"archived {feed} payload {sha256} is corrupt: its content no longer matches its hash"
        )
    return payload
