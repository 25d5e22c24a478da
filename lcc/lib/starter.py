#!/usr/bin/env python3
# The team's starter content, copied once into a new home by the lifecycle scripts
# (`starter.py SOURCE`, a git URL or s3://bucket/prefix/): never over a file the user
# has, then a marker so it is not fetched again. Runs next to studio.py, whose helpers it
# uses (the app's execution role for S3, git with the user's token helper).
from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from studio import HOME, client, git, log

STARTER_MARK = HOME / ".smstudio" / "starter-done"


def copy_missing(source: Path, target: Path) -> tuple[int, int]:
    """Copy source's files into target where nothing is at that path yet (a user's file,
    even one they emptied, stays as it is); (copied, kept). `.git` is not copied."""
    copied = kept = 0
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if rel.parts[0] == ".git" or path.is_dir():
            continue
        dest = target / rel
        if dest.exists() or dest.is_symlink():
            kept += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        temporary = dest.with_name(f".{dest.name}.starter")
        shutil.copy(path, temporary)  # streamed, with its mode bits
        temporary.replace(dest)
        copied += 1
    return copied, kept


def fetch_s3(uri: str, into: Path) -> None:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            rel = item["Key"][len(prefix) :].lstrip("/")
            if not rel or rel.endswith("/") or ".." in Path(rel).parts:
                continue
            dest = into / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(dest))


def starter(source: str) -> int:
    """Copy the team's starter content into this home, once: a git repository's files or
    an S3 prefix's objects, never over what is there; then the marker."""
    if STARTER_MARK.exists():
        log("INFO", f"already copied ({STARTER_MARK.read_text().strip()})")
        return 0
    with tempfile.TemporaryDirectory(prefix="starter-", dir=HOME / ".smstudio") as tmp:
        fetched = Path(tmp) / "content"
        if source.startswith("s3://"):
            fetch_s3(source, fetched)
        else:
            done = git("clone", "--quiet", "--depth", "1", source, str(fetched))
            if done.returncode != 0:
                log("ERROR", f"{source}: clone failed: {done.stderr.strip()[-300:]}")
                return 1
        copied, kept = copy_missing(fetched, HOME)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    STARTER_MARK.write_text(f"{source} at {stamp}\n")
    log("INFO", f"{source}: {copied} file(s) copied, {kept} already here kept")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: starter.py SOURCE  (a git https:// URL, or s3://bucket/prefix/)",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    try:
        sys.exit(starter(sys.argv[1]))
    except Exception as exc:
        log("ERROR", f"{sys.argv[1]}: {exc}")
        sys.exit(1)
