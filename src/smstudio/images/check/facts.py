"""Gather ImageFacts from a built image: its config, and every layer's tar headers.

The layer walk reads the `docker save` stream once, in stream mode (no temporary copy of
the image), and replays the layers in manifest order with OCI whiteouts, so a file that
a later layer deletes still counts as present in its own layer (SageMaker sees every
layer) but not in the final filesystem.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from smstudio.core.facts import MAX_ID
from smstudio.images.check.rules import FileOwner, ImageFacts

KEPT_FILES = ("/etc/passwd", "/etc/group")
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass
class LayerScan:
    """One layer's entries: paths added, paths whited out, opaque dirs, owners, files."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    owners: list[tuple[str, int, int]] = field(default_factory=list)  # only ids > MAX_ID
    files: dict[str, bytes | None] = field(default_factory=dict)  # KEPT_FILES; None = deleted


def _norm(name: str) -> str:
    if name in (".", "./"):
        return "/"
    return posixpath.normpath("/" + name.removeprefix("./").lstrip("/"))


def scan_layer(layer: tarfile.TarFile) -> LayerScan:
    scan = LayerScan()
    for member in layer:
        path = _norm(member.name)
        base = posixpath.basename(path)
        parent = posixpath.dirname(path)
        if base == OPAQUE:
            scan.opaque.append(parent)
            continue
        if base.startswith(WHITEOUT):
            gone = posixpath.join(parent, base[len(WHITEOUT) :])
            scan.removed.append(gone)
            if gone in KEPT_FILES:
                scan.files[gone] = None
            continue
        scan.added.append(path)
        if member.uid > MAX_ID or member.gid > MAX_ID:
            scan.owners.append((path, member.uid, member.gid))
        if path in KEPT_FILES and member.isfile():
            handle = layer.extractfile(member)
            scan.files[path] = handle.read() if handle else b""
    return scan


def _drop_tree(paths: set[str], root: str, keep_root: bool) -> None:
    prefix = root.rstrip("/") + "/"
    doomed = [p for p in paths if p.startswith(prefix)]
    if not keep_root:
        doomed.append(root)
    paths.difference_update(doomed)


def merge_layers(scans: Iterable[LayerScan]) -> tuple[set[str], list[FileOwner], dict[str, bytes]]:
    """Replay layers bottom-up: the final path set, high-id owners per layer, kept files."""
    paths: set[str] = set()
    owners: list[FileOwner] = []
    files: dict[str, bytes] = {}
    for index, scan in enumerate(scans, start=1):
        for directory in scan.opaque:
            _drop_tree(paths, directory, keep_root=True)
        for gone in scan.removed:
            _drop_tree(paths, gone, keep_root=False)
        paths.update(scan.added)
        owners += [FileOwner(p, uid, gid, index) for p, uid, gid in scan.owners]
        for name, content in scan.files.items():
            if content is None:
                files.pop(name, None)
            else:
                files[name] = content
    return paths, owners, files


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (the `docker save` stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def scan_saved_image(stream: IO[bytes]) -> tuple[list[LayerScan], dict[str, Any]]:
    """Scan a `docker save` archive: each layer keyed by its archive path, ordered by the
    manifest. Returns (layers in order, the image config JSON)."""
    by_name: dict[str, LayerScan] = {}
    manifest: list[dict[str, Any]] | None = None
    blobs_json: dict[str, Any] = {}
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not member.isfile():
                continue
            handle = outer.extractfile(member)
            if handle is None:
                continue
            if member.name == "manifest.json":
                manifest = json.loads(handle.read())
                continue
            if member.size < 1 << 20 and not member.name.endswith("layer.tar"):
                data = handle.read()
                try:
                    blobs_json[member.name] = json.loads(data)
                    continue
                except ValueError:
                    handle = io.BytesIO(data)
            try:
                with tarfile.open(fileobj=handle, mode="r|*") as layer:
                    by_name[member.name] = scan_layer(layer)
            except tarfile.ReadError:
                continue
    if not manifest:
        raise ValueError("docker save output has no manifest.json")
    entry = manifest[0]
    missing = [name for name in entry["Layers"] if name not in by_name]
    if missing:
        raise ValueError(f"docker save output lacks layers {missing}")
    return [by_name[name] for name in entry["Layers"]], blobs_json.get(entry["Config"], {})


def facts_from_save(stream: IO[bytes]) -> ImageFacts:
    layers, config = scan_saved_image(stream)
    paths, owners, files = merge_layers(layers)
    cfg = config.get("config") or {}
    env = dict(item.split("=", 1) for item in cfg.get("Env") or [] if "=" in item)
    return ImageFacts(
        os=config.get("os", ""),
        architecture=config.get("architecture", ""),
        user=cfg.get("User") or "",
        env=env,
        labels=cfg.get("Labels") or {},
        passwd=files.get("/etc/passwd", b"").decode(errors="replace"),
        group=files.get("/etc/group", b"").decode(errors="replace"),
        high_id_files=owners,
        paths=paths,
    )


def gather(image: Any) -> ImageFacts:
    """ImageFacts of a docker SDK Image object (streams `docker save`)."""
    reader = io.BufferedReader(_ChunkReader(iter(image.save(chunk_size=1 << 20))), 1 << 20)
    return facts_from_save(reader)
