"""State files that survive a crash: written whole or not at all, readable from their copy
when cut short, an unreadable one kept aside."""

from __future__ import annotations

import json
from pathlib import Path

from smstudio.local import durable
from smstudio.local.controlplane.store import Store


def test_a_cut_short_or_empty_file_reads_from_its_copy(tmp_path: Path) -> None:
    path = tmp_path / "studio.json"
    durable.write(path, json.dumps({"domains": {"d-1": {}}}))
    durable.write(path, json.dumps({"domains": {"d-1": {}, "d-2": {}}}))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    for cut in (b"", path.read_bytes()[:10]):
        path.write_bytes(cut)
        found, note = durable.read_json(path)
        assert found == {"domains": {"d-1": {}, "d-2": {}}}, note
        assert note is not None
        durable.write(path, json.dumps(found))  # the next write mends it
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert any(name.startswith("studio.json.corrupt-") for name in kept), kept  # never lost


def test_a_store_starts_from_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "studio.json"
    store = Store(path)
    store.table("domains")["d-1"] = {"DomainName": "ml-team"}
    store.save()
    path.write_text("")
    again = Store(path)
    assert again.table("domains") == {"d-1": {"DomainName": "ml-team"}}
    assert again.note == "studio.json was empty"
    path.unlink()
    durable.backup_of(path).write_text("{")
    assert Store(path).data == {}  # nothing readable: empty, and the copy kept aside
    assert any(p.name.startswith("studio.json.bak.corrupt-") for p in tmp_path.iterdir())
