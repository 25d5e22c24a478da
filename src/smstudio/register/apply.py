"""`smstudio plan` / `smstudio apply`: make a team file real in a SageMaker domain, in
three parts: read the account once (`state`), plan (`plan`, pure), carry out exactly
that plan (`execute`). A plan can be written to a file, reviewed, and applied as it is:
`apply plan.json` refuses, with what changed, when the account is no longer what the
plan was made from.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, dockerhost
from smstudio.core.config import Team
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.images import kernels
from smstudio.register import desired, lcc, state
from smstudio.register.execute import Executor
from smstudio.register.plan import (
    Change,
    ImageInput,
    Inputs,
    LifecycleInput,
    Options,
    Plan,
    plan,
)

FORMAT = 1
# Calls that change nothing; every other call counts as a change (an allow-list of reads,
# so a new kind of write is never missed).
READS = ("Describe", "Get", "List", "Head", "BatchGet", "Search", "Query", "Scan", "Select",
         "Lookup", "Filter", "Simulate", "Validate", "AssumeRole")  # fmt: skip


def gather(team: Team, base_dir: Path, tag: str, options: Options | None = None) -> Inputs:
    """What only this machine knows: the built images (their config digests) and the
    lifecycle scripts rendered with the team's settings (`--only images`: the images
    named, or all, and no scripts)."""
    options = options or Options()
    inputs = Inputs()
    for name, image in team.images.items():
        if options.only_images and options.images and name not in options.images:
            continue
        ref = f"smstudio/{image.target}:{tag}"
        try:
            image_id = str(dockerhost.get_image(ref).id)
        except SmstudioError:
            raise BadInput(
                f"image {name} needs {ref}, which is not built",
                f"build it: smstudio images build --tag {tag} (or apply with the --tag built)",
            ) from None
        config: dict[str, Any] = {}
        if "KernelGateway" in image.app_types:
            config["KernelGatewayImageConfig"] = desired.kernel_gateway_config(
                image, kernels.for_image(image)
            )
        if "JupyterLab" in image.app_types:
            config["JupyterLabAppImageConfig"] = desired.jupyterlab_config(image)
        if "CodeEditor" in image.app_types:
            config["CodeEditorAppImageConfig"] = desired.codeeditor_config()
        inputs.images[name] = ImageInput(ref, image_id, config)
    for app_type, path in [] if options.only_images else list(team.lifecycle.items()):
        script = base_dir / path
        rendered = lcc.package(script, lcc.settings(team, app_type))
        content = desired.lcc_content(rendered, str(script))
        inputs.lifecycle[app_type] = LifecycleInput(
            desired.lcc_name(app_type, content), content, script.name
        )
    return inputs


@dataclass
class Planned:
    """A plan with what it was made from."""

    team: Team
    tag: str
    options: Options
    inputs: Inputs
    state: state.State
    plan: Plan

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "team": self.team.model_dump(mode="json"),
            "tag": self.tag,
            "options": asdict(self.options),
            "inputs": asdict(self.inputs),
            "state": self.state.to_json(),
            "fingerprint": self.state.fingerprint(),
            "changes": [c.to_json() for c in self.plan.changes],
            "kept": [c.to_json() for c in self.plan.kept],
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Planned:
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')}, not {FORMAT}")
            inputs = Inputs(
                {k: ImageInput(**v) for k, v in data["inputs"]["images"].items()},
                {k: LifecycleInput(**v) for k, v in data["inputs"]["lifecycle"].items()},
            )
            return cls(
                Team.model_validate(data["team"]),
                data["tag"],
                Options(**data["options"]),
                inputs,
                state.State.from_json(data["state"]),
                Plan(
                    data["team"]["domain"].get("name") or data["team"]["domain"]["id"],
                    [Change.from_json(c) for c in data["changes"]],
                    [Change.from_json(c) for c in data["kept"]],
                ),
            )
        except OSError as exc:
            raise BadInput(
                f"cannot read the plan file {path}: {exc.strerror}", "check the path"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(
                f"{path} is not a plan file smstudio wrote ({exc})",
                "make one with: smstudio plan -o plan.json",
            ) from None


def make(
    team: Team, base_dir: Path, clients: aws.Aws, tag: str, options: Options | None = None
) -> Planned:
    """Read the account, then plan."""
    options = options or Options()
    inputs = gather(team, base_dir, tag, options)
    found = state.read(team, clients, only_images=options.only_images)
    return Planned(team, tag, options, inputs, found, plan(team, inputs, found, options))


def stale(planned: Planned, clients: aws.Aws) -> list[str]:
    """What changed in the account since the plan was made ([] when nothing did)."""
    now = state.read(planned.team, clients, only_images=planned.options.only_images)
    if now.fingerprint() == planned.state.fingerprint():
        return []
    return state.differences(planned.state.to_json(), now.to_json())


def execute(
    planned: Planned,
    clients: aws.Aws,
    console: Console,
    version_timeout: float = 900,
    started: Any = lambda _: None,
) -> list[Change]:
    return Executor(clients, console, version_timeout).run(planned.plan, started)


def run(
    team: Team,
    base_dir: Path,
    clients: aws.Aws,
    console: Console,
    tag: str = "dev",
    options: Options | None = None,
    version_timeout: float = 900,
) -> list[Change]:
    """Plan and carry out that plan (what `apply --yes` does, without the lock)."""
    planned = make(team, base_dir, clients, tag, options)
    return execute(planned, clients, console, version_timeout)


def count_mutations(clients: aws.Aws) -> list[str]:
    """Register a hook on every client `clients` makes that records each call that is not
    a read."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if not model.name.startswith(READS):
            seen.append(f"{model.service_model.service_name}:{model.name}")

    clients.event_hooks.append(("before-call.*.*", record))
    return seen
