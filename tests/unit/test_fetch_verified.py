"""The SSM agent and AWS CLI v2 come from AWS at image build, behind bake variables: the
verified download (run here with file:// URLs, the boundary this machine can reach) and
the variables reaching the base image's build."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from smstudio.core import project

ROOT = project.project_root()
SCRIPT = ROOT / "images/base/fetch-verified.sh"


def fetch(url: str, checksum: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), url, checksum, str(dest)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_a_download_with_the_right_checksum_is_kept(tmp_path: Path) -> None:
    source = tmp_path / "agent.deb"
    source.write_bytes(b"pretend package")
    good = hashlib.sha256(b"pretend package").hexdigest()
    done = fetch(source.as_uri(), good, tmp_path / "out.deb")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.deb").read_bytes() == b"pretend package"


def test_a_wrong_or_missing_checksum_keeps_nothing(tmp_path: Path) -> None:
    source = tmp_path / "agent.deb"
    source.write_bytes(b"tampered")
    done = fetch(source.as_uri(), "0" * 64, tmp_path / "out.deb")
    assert done.returncode == 1 and "checksum mismatch" in done.stderr
    assert not (tmp_path / "out.deb").exists()
    done = fetch(source.as_uri(), "", tmp_path / "out.deb")
    assert done.returncode == 2 and "SSM_AGENT" not in done.stdout and "SHA-256" in done.stderr
    done = fetch((tmp_path / "missing.deb").as_uri(), "0" * 64, tmp_path / "out.deb")
    assert done.returncode != 0 and not (tmp_path / "out.deb").exists()


def bake_args(**variables: str) -> dict[str, str]:
    env = {**os.environ, **variables}
    printed = subprocess.run(["docker", "buildx", "bake", "--print", "base-core"], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return dict(json.loads(printed.stdout)["target"]["base-core"].get("args") or {})


def test_bake_passes_the_download_variables_only_when_set() -> None:
    assert not any(k.startswith(("SSM_", "AWSCLI_")) for k in bake_args())
    given = {"SSM_AGENT_URL": "https://example.invalid/agent.deb", "SSM_AGENT_SHA256": "a" * 64,
             "AWSCLI_URL": "https://example.invalid/cli.zip", "AWSCLI_SHA256": "b" * 64}  # fmt: skip
    assert {k: v for k, v in bake_args(**given).items() if k in given} == given
