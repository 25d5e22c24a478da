"""Image sizes against their goals, and what the biggest layers hold. Studio pulls an
app's image on every start on a fresh instance, so size is start time.

Run: .venv/bin/python bench/sizes.py [--tag dev] [--baseline TAG] [--layers 5]
(--baseline: the same images under another tag, e.g. built from an earlier commit.)
"""

from __future__ import annotations

import argparse

from smstudio.core import dockerhost

GOALS_MB = {"base": 500, "jupyterlab": 700, "codeeditor": 900, "kernelgateway": None,
            "datascience": None}  # fmt: skip


def mb(size: int) -> float:
    return size / 1_000_000  # decimal, as `docker images` shows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--baseline", help="another tag of the same images, to compare with")
    args = parser.parse_args()
    engine = dockerhost.client()
    rows = []
    before: dict[str, float] = {}
    for name, goal in GOALS_MB.items():
        if args.baseline:
            try:
                old = engine.images.get(f"smstudio/{name}:{args.baseline}")
                before[name] = mb(int(old.attrs["Size"]))
            except Exception:  # no baseline for this one
                pass
        ref = f"smstudio/{name}:{args.tag}"
        try:
            image = engine.images.get(ref)
        except Exception:  # not built: say so and go on
            rows.append((name, None, goal, []))
            continue
        layers = sorted(
            ((entry["Size"], entry["CreatedBy"]) for entry in image.history() if entry["Size"]),
            reverse=True,
        )[: args.layers]
        rows.append((name, mb(int(image.attrs["Size"])), goal, layers))
    head = f"{'image':<15}{'MB':>8}{'goal MB':>9}{'size/goal':>11}"
    if args.baseline:
        head += f"{args.baseline + ' MB':>14}{'size/before':>13}"
    print(head)
    for name, size, goal, _ in rows:
        if size is None:
            print(f"{name:<15}{'not built':>8}")
            continue
        ratio = f"{size / goal:.2f}x" if goal else "-"
        line = f"{name:<15}{size:>8.0f}{goal or '-':>9}{ratio:>11}"
        if args.baseline:
            was = before.get(name)
            line += f"{was:>14.0f}{size / was:>12.2f}x" if was else f"{'-':>14}{'-':>13}"
        print(line)
    for name, size, _, layers in rows:
        if size is None:
            continue
        print(f"\n{name}: the {len(layers)} biggest layers")
        for layer_size, created in layers:
            what = created.split(" -c ", 1)[1] if " -c " in created else created
            what = " ".join(what.split())[:100] or "(the base image)"
            print(f"  {mb(layer_size):>7.0f} MB  {what}")


if __name__ == "__main__":
    main()
