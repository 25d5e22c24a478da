#!/usr/bin/env python3
# In-container helpers that act with the app's execution role (boto3, standard library
# otherwise). The lifecycle scripts install this file to ~/.smstudio/lib/studio.py.
#   git-setup [--host H] [--username U] [URL ...]  identity from the user profile's tags,
#       the credential helper for H, repositories cloned on first start
#   git-credential get|store|erase --host H --username U  (git's credential protocol)
#   home-usage [--every S]  the home's size, to CloudWatch Logs for `smstudio status --all`
#       (at start, then every S seconds while the app runs)
#   idle-watch --minutes M   KernelGateway: delete this app when idle for M minutes
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

METADATA = Path("/opt/ml/metadata/resource-metadata.json")
HOME = Path(os.environ.get("HOME", "/home/sagemaker-user"))
USAGE_GROUP = "/smstudio/home-usage"
TAG_NAME, TAG_EMAIL = "smstudio:git-name", "smstudio:git-email"


def log(level: str, message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} {level} {os.environ.get('SMSTUDIO_LOG_NAME', 'studio')}: {message}", flush=True)


def client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def metadata() -> dict[str, str]:
    if not METADATA.is_file():
        raise RuntimeError(f"not in a Studio app: {METADATA} is missing")
    return dict(json.loads(METADATA.read_text()))


def owner(meta: dict[str, str]) -> str | None:
    # A space's user is its owner; Classic apps carry the profile name. A shared space
    # acts for no single user (its session has no SourceIdentity): None.
    if meta.get("UserProfileName"):
        return meta["UserProfileName"]
    space = client("sagemaker").describe_space(
        DomainId=meta["DomainId"], SpaceName=meta["SpaceName"]
    )
    if space.get("SpaceSharingSettings", {}).get("SharingType") == "Shared":
        return None
    return str(space["OwnershipSettings"]["OwnerUserProfileName"])


def secret_name(domain_id: str, user: str) -> str:
    return f"smstudio/{domain_id}/{user}/git-token"


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=600)


def git_setup(args: argparse.Namespace) -> int:
    meta = metadata()
    user = owner(meta)
    if user is None:
        log("INFO", "a shared space: no personal git identity or token (commit as yourself "
            "with `git -c user.name=... commit`)")
        return clone(args.repositories)
    sm = client("sagemaker")
    arn = sm.describe_user_profile(DomainId=meta["DomainId"], UserProfileName=user)
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn["UserProfileArn"])["Tags"]}
    for key, tag in (("user.name", TAG_NAME), ("user.email", TAG_EMAIL)):
        if tags.get(tag):
            git("config", "--global", key, tags[tag])
    log("INFO", f"identity {tags.get(TAG_NAME, '?')} <{tags.get(TAG_EMAIL, '?')}> for {user}")
    if args.host:
        helper = (
            f"!{sys.executable} {Path(__file__).resolve()} git-credential "
            f"--host {args.host} --username {args.username}"
        )
        git("config", "--global", "--replace-all", f"credential.https://{args.host}.helper", helper)
        log("INFO", f"token for https://{args.host} comes from Secrets Manager when git asks")
    return clone(args.repositories)


def clone(repositories: list[str]) -> int:
    failed = 0
    for url in repositories:
        target = HOME / url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        if target.exists():
            log("INFO", f"{url}: already in {target}")
            continue
        done = git("clone", "--quiet", url, str(target))
        if done.returncode == 0:
            log("INFO", f"{url}: cloned into {target}")
        else:
            failed += 1
            log("ERROR", f"{url}: clone failed: {done.stderr.strip().splitlines()[-1:]}")
    return 1 if failed else 0


def git_credential(args: argparse.Namespace) -> int:
    if args.action != "get":
        return 0  # never store a token anywhere
    asked = dict(line.split("=", 1) for line in sys.stdin.read().splitlines() if "=" in line)
    if asked.get("protocol") != "https" or asked.get("host") != args.host:
        return 0
    meta = metadata()
    user = owner(meta)
    if user is None:
        return 0  # a shared space: no one's token
    try:
        token = client("secretsmanager").get_secret_value(
            SecretId=secret_name(meta["DomainId"], user)
        )["SecretString"]
    except Exception as exc:
        print(f"smstudio: no git token for {args.host} ({exc}); run on your laptop: "
              "smstudio git-token set USER", file=sys.stderr)  # fmt: skip
        return 0
    print(f"username={args.username}\npassword={token}")
    return 0


def home_usage(args: argparse.Namespace) -> int:
    """Report the home's usage now and, with --every, again every so many seconds while
    the app runs (a failed report is logged; the next one is tried all the same)."""
    if not args.every:
        report_home_usage()
        return 0
    while True:
        try:
            report_home_usage()
        except Exception as exc:
            log("ERROR", f"home usage not reported: {exc}")
        time.sleep(args.every)


def report_home_usage() -> None:
    meta = metadata()
    who = meta.get("SpaceName") or meta["UserProfileName"]
    started = time.monotonic()
    size = subprocess.run(["du", "-sxb", str(HOME)], capture_output=True, text=True)
    files = subprocess.run(["du", "-sx", "--inodes", str(HOME)], capture_output=True, text=True)
    report = {
        "owner": who,
        "bytes": int(size.stdout.split()[0]),
        "files": int(files.stdout.split()[0]),
        "app": f"{meta['AppType']}/{meta['ResourceName']}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    logs = client("logs")
    stream = f"{meta['DomainId']}/{who}"
    for make, kwargs in (
        (logs.create_log_group, {"logGroupName": USAGE_GROUP}),
        (logs.create_log_stream, {"logGroupName": USAGE_GROUP, "logStreamName": stream}),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            make(**kwargs)
    logs.put_log_events(
        logGroupName=USAGE_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(report)}],
    )
    took = time.monotonic() - started
    log("INFO", f"home {report['bytes']} bytes, {report['files']} files ({took:.1f}s)")


def activity(port: int) -> tuple[bool, float | None] | None:
    # (any kernel busy, newest activity) from the app's own server; None when its kernel
    # list cannot be read (then nothing is known to be idle).
    busy, newest, known = False, None, False
    for path in ("/api/kernels", "/api/terminals"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                items = json.load(answer)
        except Exception:
            continue
        known = known or path == "/api/kernels"
        for item in items:
            busy = busy or item.get("execution_state") == "busy"
            if item.get("last_activity"):
                stamp = datetime.fromisoformat(item["last_activity"].replace("Z", "+00:00"))
                newest = max(newest or 0.0, stamp.timestamp())
    return (busy, newest) if known else None


def idle_watch(args: argparse.Namespace) -> int:
    meta = metadata()
    limit = args.minutes * 60
    since = time.time()
    log("INFO", f"deleting this app after {args.minutes:g} idle minutes")
    while True:
        time.sleep(min(30.0, max(1.0, limit / 6)))
        seen = activity(args.port)
        if seen is None:
            log("WARN", f"cannot read the kernels on port {args.port}; not idle")
            since = time.time()
            continue
        busy, newest = seen
        if busy:
            since = time.time()
        elif newest:
            since = max(since, newest)
        idle = time.time() - since
        if idle < limit:
            continue
        log("INFO", f"idle for {idle / 60:.1f} minutes: deleting {meta['ResourceName']}")
        client("sagemaker").delete_app(
            DomainId=meta["DomainId"],
            UserProfileName=meta["UserProfileName"],
            AppType=meta["AppType"],
            AppName=meta["ResourceName"],
        )
        return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio.py")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("git-setup")
    setup.add_argument("--host", default="")
    setup.add_argument("--username", default="x-access-token")
    setup.add_argument("repositories", nargs="*")
    credential = commands.add_parser("git-credential")
    credential.add_argument("action")
    credential.add_argument("--host", required=True)
    credential.add_argument("--username", required=True)
    usage = commands.add_parser("home-usage")
    usage.add_argument("--every", type=float, default=0, help="seconds; 0: once")
    idle = commands.add_parser("idle-watch")
    idle.add_argument("--minutes", type=float, required=True)
    idle.add_argument("--port", type=int, default=8888)
    args = parser.parse_args(argv)
    run = {
        "git-setup": git_setup,
        "git-credential": git_credential,
        "home-usage": home_usage,
        "idle-watch": idle_watch,
    }[args.command]
    try:
        return run(args)
    except Exception as exc:
        log("ERROR", f"{args.command}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
