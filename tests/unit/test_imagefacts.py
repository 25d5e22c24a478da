"""Layer replay and `docker save` parsing on archives built in memory (no Docker)."""

from __future__ import annotations

import io
import json
import tarfile

from smstudio.images.check.facts import facts_from_save, merge_layers, scan_layer


def layer(*entries: tuple[str, int, int, bytes | None]) -> bytes:
    """A layer tar; an entry with content None is a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, uid, gid, content in entries:
            info = tarfile.TarInfo(name)
            info.uid, info.gid = uid, gid
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def scan(data: bytes):  # type: ignore[no-untyped-def]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return scan_layer(tar)


def test_whiteouts_and_opaque_dirs_shape_the_final_filesystem() -> None:
    lower = scan(layer(("etc", 0, 0, None), ("etc/passwd", 0, 0, b"root:x:0:0::/root:/bin/sh\n"),
                       ("data", 0, 0, None), ("data/a", 0, 0, b"a"), ("data/sub/b", 0, 0, b"b"),
                       ("opt/keep", 0, 0, b"k"), ("opt/old/x", 0, 0, b"x")))  # fmt: skip
    upper = scan(layer(("data/.wh.sub", 0, 0, b""), ("opt/old", 0, 0, None), ("opt/old/.wh..wh..opq", 0, 0, b""),
                       ("opt/old/new", 0, 0, b"n"),
                       ("etc/passwd", 0, 0, b"root:x:0:0::/root:/bin/sh\nu:x:1000:100::/h:/bin/sh\n")))  # fmt: skip
    paths, owners, files = merge_layers([lower, upper])
    assert "/data/a" in paths and "/data/sub/b" not in paths and "/data/sub" not in paths
    assert "/opt/old/x" not in paths and "/opt/old/new" in paths and "/opt/old" in paths
    assert "/opt/keep" in paths
    assert b"u:x:1000" in files["/etc/passwd"]
    assert owners == []


def test_high_ids_count_even_when_a_later_layer_deletes_the_file() -> None:
    first = scan(layer(("big", 0, 0, None), ("big/file", 70000, 100, b"x"), ("ok", 1000, 100, b"")))
    second = scan(layer(("big/.wh.file", 0, 0, b"")))
    paths, owners, _ = merge_layers([first, second])
    assert "/big/file" not in paths
    assert [(o.path, o.uid, o.gid, o.layer) for o in owners] == [("/big/file", 70000, 100, 1)]


def test_deleted_passwd_is_forgotten() -> None:
    first = scan(layer(("etc/group", 0, 0, b"users:x:100:\n")))
    second = scan(layer(("etc/.wh.group", 0, 0, b"")))
    assert merge_layers([first, second])[2] == {}


def saved_image(layers: list[bytes], config: dict) -> io.BytesIO:
    """A `docker save` archive in the OCI layout Docker >= 25 writes (blobs first)."""
    buffer = io.BytesIO()
    names = [f"blobs/sha256/{i:064d}" for i in range(len(layers))]
    config_name = "blobs/sha256/" + "c" * 64
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name, data in zip(names, layers, strict=True):
            add(name, data)
        add(config_name, json.dumps(config).encode())
        add("manifest.json", json.dumps([{"Config": config_name, "Layers": names}]).encode())
    buffer.seek(0)
    return buffer


def test_facts_from_a_saved_image_follow_manifest_order() -> None:
    layers = [
        layer(("etc/passwd", 0, 0, b"root:x:0:0::/root:/bin/sh\n"), ("home/sagemaker-user/.x", 0, 0, b"")),
        layer(("home/sagemaker-user/.wh..x", 0, 0, b""), ("srv/f", 1, 65536, b"")),
    ]  # fmt: skip
    config = {"os": "linux", "architecture": "amd64",
              "config": {"User": "1000:100", "Env": ["A=1", "JUPYTER_PATH=/j"],
                         "Labels": {"io.smstudio.image": "base"}}}  # fmt: skip
    facts = facts_from_save(saved_image(layers, config))
    assert (facts.os, facts.architecture, facts.user) == ("linux", "amd64", "1000:100")
    assert facts.env == {"A": "1", "JUPYTER_PATH": "/j"}
    assert facts.labels == {"io.smstudio.image": "base"}
    assert "root:x:0:0" in facts.passwd
    assert "/home/sagemaker-user/.x" not in facts.paths and "/srv/f" in facts.paths
    assert [(o.path, o.layer) for o in facts.high_id_files] == [("/srv/f", 2)]
