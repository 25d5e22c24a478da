"""App start benchmark: CreateApp -> InService in the local Studio, for a JupyterLab
space, a Code Editor space and a KernelGateway app (images cached), a few runs each.
Goal: <= 15 s.

Run: .venv/bin/python bench/apps.py [--tag dev] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from localstudio import TEAM_FILE, running

CODE_EDITOR = """[images.smstudio-codeeditor]
target = "codeeditor"
app_types = ["CodeEditor"]

[lifecycle]
CodeEditor = "../lcc/codeeditor.sh"
"""


def team_with_code_editor() -> Path:
    """The example team and the codeeditor image (smstudio images build codeeditor)."""
    text = TEAM_FILE.read_text().replace("[lifecycle]\n", CODE_EDITOR, 1)
    folder = Path(tempfile.mkdtemp(prefix="smstudio-bench-"))
    (folder / "bootstrap").mkdir()
    path = folder / "bootstrap/team.toml"
    path.write_text(text.replace('"../lcc/', f'"{TEAM_FILE.parent.parent}/lcc/'))
    return path


def settle(sm: Any, app: dict[str, str]) -> str:
    while True:
        status = sm.describe_app(**app)["Status"]
        if status not in ("Pending", "Deleting"):
            return str(status)
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {
        "JupyterLab (space)": [], "CodeEditor (space)": [], "KernelGateway (user)": []
    }  # fmt: skip
    with running(args.tag, team_with_code_editor()) as studio:
        sm, domain = studio["user"]("alice").client("sagemaker"), studio["domain"]  # as alice
        sm.create_space(
            DomainId=domain,
            SpaceName="bench",
            OwnershipSettings={"OwnerUserProfileName": "alice"},
            SpaceSharingSettings={"SharingType": "Private"},
        )
        sm.create_space(
            DomainId=domain,
            SpaceName="bench-code",
            OwnershipSettings={"OwnerUserProfileName": "alice"},
            SpaceSharingSettings={"SharingType": "Private"},
            SpaceSettings={"AppType": "CodeEditor"},
        )
        apps = {
            "CodeEditor (space)": {
                "DomainId": domain,
                "SpaceName": "bench-code",
                "AppType": "CodeEditor",
                "AppName": "default",
            },
            "JupyterLab (space)": {
                "DomainId": domain,
                "SpaceName": "bench",
                "AppType": "JupyterLab",
                "AppName": "default",
            },
            "KernelGateway (user)": {
                "DomainId": domain,
                "UserProfileName": "alice",
                "AppType": "KernelGateway",
                "AppName": "bench",
            },
        }
        for _ in range(args.runs):
            for name, app in apps.items():
                started = time.monotonic()
                sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
                status = settle(sm, app)
                elapsed = time.monotonic() - started
                if status != "InService":
                    raise SystemExit(
                        f"{name}: {status}: {sm.describe_app(**app).get('FailureReason')}"
                    )
                results[name].append(elapsed)
                sm.delete_app(**app)
                settle(sm, app)
    print(f"{'CreateApp -> InService':<26}{'first s':>9}{'median s':>10}{'max s':>8}  goal <= 15 s")
    for name, times in results.items():
        median = statistics.median(times)
        verdict = "met" if median <= 15 else "NOT met"
        print(f"{name:<26}{times[0]:>9.1f}{median:>10.1f}{max(times):>8.1f}  {verdict}")


if __name__ == "__main__":
    main()
