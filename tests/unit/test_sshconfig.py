"""Studio host names and the managed ~/.ssh/config block."""

from __future__ import annotations

from pathlib import Path

import pytest

from smstudio.core.errors import SmstudioError
from smstudio.ssh import sshconfig

BLOCK = sshconfig.config_block("/x/smstudio ssh proxy", Path("/k"), Path("/kh"))


def test_host_names_round_trip() -> None:
    host = sshconfig.parse_host("default.alice-space.d-abc123def456.studio.sagemaker")
    assert host == sshconfig.StudioHost("default", "alice-space", "d-abc123def456")
    assert sshconfig.parse_host(host.name) == host


@pytest.mark.parametrize(
    "name", ["alice", "default.alice.d-abc.studio.sagemaker", "a.b.d-abc123def456.example.com"]
)
def test_bad_host_names_say_the_form(name: str) -> None:
    with pytest.raises(SmstudioError) as info:
        sshconfig.parse_host(name)
    assert "<app>.<user-or-space>.<domain-id>.studio.sagemaker" in info.value.fix


def test_block_is_added_once_and_the_rest_is_untouched() -> None:
    mine = "Host work\n  HostName 10.0.0.1\n\nHost *\n  ForwardAgent no\n"
    once = sshconfig.merge(mine, BLOCK)
    assert once.startswith(sshconfig.BEGIN) and once.endswith(mine)
    assert "ProxyCommand /x/smstudio ssh proxy %h" in once and "IdentityFile /k/%h" in once
    assert sshconfig.merge(once, BLOCK) == once
    newer = sshconfig.config_block("/y/smstudio ssh proxy", Path("/k"), Path("/kh"))
    updated = sshconfig.merge(once, newer)
    assert "/y/smstudio" in updated and "/x/smstudio" not in updated
    assert updated.endswith(mine) and updated.count(sshconfig.BEGIN) == 1
    assert sshconfig.merge("", BLOCK) == BLOCK


def test_a_broken_block_is_refused() -> None:
    with pytest.raises(SmstudioError, match="not"):
        sshconfig.merge(sshconfig.BEGIN + "\nHost x\n", BLOCK)


def test_remote_access_keys_are_merged_by_key_not_comment() -> None:
    from smstudio.ssh import remote

    one, two = "ssh-ed25519 AAAAone smstudio a", "ssh-ed25519 AAAAtwo smstudio b"
    assert remote.merged_keys("", one) == one + "\n"
    assert remote.merged_keys(one + "\n", "ssh-ed25519 AAAAone other comment") is None
    assert remote.merged_keys(one + "\n", two) == f"{one}\n{two}\n"
    many = "".join(f"ssh-ed25519 AAAA{n} c\n" for n in range(remote.MAX_KEYS))
    kept = remote.merged_keys(many, two)
    assert kept is not None and kept.splitlines()[-1] == two
    assert len(kept.splitlines()) == remote.MAX_KEYS and "AAAA0 " not in kept


def test_remote_access_block_keeps_the_first_host_key_seen() -> None:
    block = sshconfig.config_block("p --transport auto", Path("/k"), Path("/kh"), "accept-new")
    assert "  StrictHostKeyChecking accept-new\n" in block
    assert "  StrictHostKeyChecking yes\n" in BLOCK
