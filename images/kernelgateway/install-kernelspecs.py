"""Write a Jupyter kernelspec for each kernel declared in kernelspecs.json.

Usage: install-kernelspecs.py DECLARATION_JSON KERNELS_DIR
"""

import json
import sys
from pathlib import Path


def main(declaration: str, kernels_dir: str) -> None:
    specs = json.loads(Path(declaration).read_text())["kernelspecs"]
    for spec in specs:
        target = Path(kernels_dir) / spec["name"]
        target.mkdir(parents=True, exist_ok=True)
        kernel = {
            "argv": [spec["python"], "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": spec["display_name"],
            "language": "python",
            "metadata": {"debugger": True},
        }
        (target / "kernel.json").write_text(json.dumps(kernel, indent=1) + "\n")
        print(f"kernelspec {spec['name']} -> {target}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
