"""From a presigned URL to a page a user can work in, in a real browser (headless
Chromium over the DevTools protocol, as the browser tests drive it): the Code Editor
workbench (`.monaco-workbench` and its editor part) and JupyterLab's launcher, a fresh
browser each run (nothing cached), the app already InService.

Run: .venv/bin/python bench/pages.py [--tag dev] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from apps import settle, team_with_code_editor
from localstudio import running

from smstudio.core import project

sys.path.insert(0, str(project.project_root()))  # the tests' browser driver
from tests.browser import Browser

PAGES = {
    "CodeEditor": "!!document.querySelector('.monaco-workbench .part.editor')",
    "JupyterLab": "!!document.querySelector('.jp-LabShell .jp-Launcher')",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {kind: [] for kind in PAGES}
    with running(args.tag, team_with_code_editor()) as studio:
        sm, domain = studio["user"]("alice").client("sagemaker"), studio["domain"]
        for kind in PAGES:
            space = f"pages-{kind.lower()}"
            sm.create_space(DomainId=domain, SpaceName=space,
                            OwnershipSettings={"OwnerUserProfileName": "alice"},
                            SpaceSharingSettings={"SharingType": "Private"},
                            SpaceSettings={"AppType": kind})  # fmt: skip
            app = {"DomainId": domain, "SpaceName": space, "AppType": kind, "AppName": "default"}
            sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
            if settle(sm, app) != "InService":
                raise SystemExit(f"{kind}: {sm.describe_app(**app).get('FailureReason')}")
            for _ in range(args.runs):
                url = sm.create_presigned_domain_url(DomainId=domain, UserProfileName="alice",
                                                     SpaceName=space)["AuthorizedUrl"]  # fmt: skip
                with Browser() as browser:
                    began = time.monotonic()
                    browser.go(url)
                    browser.wait(PAGES[kind], 120, f"the {kind} page")
                    results[kind].append(time.monotonic() - began)
            sm.delete_app(**app)
            settle(sm, app)
    print(f"{'presigned URL -> rendered page':<32}{'first s':>9}{'median s':>10}{'max s':>8}")
    for kind, times in results.items():
        label = {"CodeEditor": "Code Editor workbench", "JupyterLab": "JupyterLab launcher"}[kind]
        print(f"{label:<32}{times[0]:>9.2f}{statistics.median(times):>10.2f}{max(times):>8.2f}")


if __name__ == "__main__":
    main()
