"""The Studio contract, for any image: what `smstudio images check` lints (platform, user,
UIDs in every layer, the home, kernelspecs), and what Studio's user finds inside."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from smstudio.images.check import lint
from smstudio.images.check.rules import Expectation


def test_meets_the_studio_contract(image: str, check_options: lint.CheckOptions) -> None:
    violations = lint.run(image, check_options, Console(stderr=True, quiet=True))
    assert not violations, "\n".join(f"{v.code}: {v.problem}\n  fix: {v.fix}" for v in violations)


def test_runs_as_studios_user(host: Any, expectation: Expectation) -> None:
    assert host.run("id -u").stdout.strip() == str(expectation.uid)
    assert host.run("id -g").stdout.strip() == str(expectation.gid)


def test_home_is_the_mount_path_and_writable(host: Any, expectation: Expectation) -> None:
    home = host.file(expectation.mount_path)
    assert home.is_directory
    assert host.run(f"touch {expectation.mount_path}/.kit-probe").rc == 0


def test_has_a_shell_and_python(host: Any) -> None:
    assert host.run("bash -c 'echo ok'").stdout.strip() == "ok"
    assert host.run("python3 -c 'print(1+1)'").stdout.strip() == "2"


def test_nothing_shipped_in_reserved_paths(host: Any) -> None:
    for reserved in ("/opt/.sagemakerinternal", "/opt/ml"):
        found = host.file(reserved)
        assert not found.exists or not host.run(f"ls -A {reserved}").stdout.strip(), (
            f"{reserved} is Studio's: it is replaced at start, so nothing there survives"
        )
