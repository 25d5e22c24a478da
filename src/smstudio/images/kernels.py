"""The one declaration of the kernelgateway image's kernels.

images/kernelgateway/kernelspecs.json is read by the image build (to create the
kernelspecs) and by registration (AppImageConfig KernelSpecs), so the two cannot drift.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from smstudio.core import project
from smstudio.core.config import Image
from smstudio.core.errors import SmstudioError

DECLARATION = Path("images/kernelgateway/kernelspecs.json")
KERNEL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
MAX_KERNELSPECS = 5  # AppImageConfig KernelGatewayImageConfig.KernelSpecs: 1 to 5


@dataclass(frozen=True)
class KernelSpecDecl:
    name: str
    display_name: str


def parse_declaration(text: str, source: str = str(DECLARATION)) -> list[KernelSpecDecl]:
    try:
        raw = json.loads(text)["kernelspecs"]
        specs = [KernelSpecDecl(str(k["name"]), str(k["display_name"])) for k in raw]
    except (ValueError, KeyError, TypeError) as exc:
        raise SmstudioError(
            f"{source}: not a kernelspec declaration ({exc})",
            'write {"kernelspecs": [{"name": ..., "display_name": ..., "python": ...}]}',
        ) from exc
    if not 1 <= len(specs) <= MAX_KERNELSPECS:
        raise SmstudioError(
            f"{source}: {len(specs)} kernelspecs declared; Studio accepts 1 to {MAX_KERNELSPECS}",
            "declare between 1 and 5 kernels",
        )
    for spec in specs:
        if not KERNEL_NAME.match(spec.name):
            raise SmstudioError(
                f"{source}: kernel name {spec.name!r} is not a valid kernelspec name",
                "use letters, digits, '.', '_' and '-' only",
            )
    return specs


def declared_kernelspecs(root: Path) -> list[KernelSpecDecl]:
    path = root / DECLARATION
    return parse_declaration(path.read_text(), str(path))


def for_image(image: Image) -> list[KernelSpecDecl]:
    """The kernelspecs a team's KernelGateway image ships: its own `kernels`, else
    smstudio's declaration (read only then: a team's pipeline has no smstudio checkout)."""
    if image.kernels:
        return [KernelSpecDecl(k.name, k.display_name) for k in image.kernels]
    return declared_kernelspecs(project.project_root())
