"""The image test kit: pytest + testinfra tests any custom image must pass before Studio
gets it (the contract, and per app type a real start), shipped with smstudio so a team's
CI runs them next to its own tests (`smstudio images test IMAGE`)."""

from __future__ import annotations

from pathlib import Path

KIT = Path(__file__).parent
# The kit's own test modules, in the order they run.
MODULES = ("kit_contract.py", "kit_jupyterlab.py", "kit_kernelgateway.py", "kit_codeeditor.py")


def modules() -> list[Path]:
    return [KIT / name for name in MODULES]
