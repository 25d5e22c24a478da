"""Run a command in a user's running Studio app, as Studio's own terminal does: through
the app's Jupyter terminals API, reached the way AWS lets a script in (IAM-auth domains):
CreatePresignedDomainUrl, then the URL followed with a session that keeps the app's
login cookie, as a browser would.

    POST <app>/api/terminals                  -> {"name": N}
    WS   <app>/terminals/websocket/N          ["stdin", text] in, ["stdout", text] out
    DELETE <app>/api/terminals/N

A terminal has no exit codes, only a screen: the command goes in as one line that prints
a start marker, runs the command (base64, so no quoting reaches the shell; stdin
/dev/null; in a subshell, so `exit` ends only it) and prints an end marker with `$?`.
What the shell printed before the start marker (its greeting, the echo of the line) is
dropped; what comes between the markers is the command's output. The markers are
written so that their echo (`SMSTUDIO START_x`) never reads as their output
(`SMSTUDIO_START_x`).

Where the terminal runs:
- a JupyterLab space (new Studio): the space's JupyterLab server;
- a Studio Classic KernelGateway app: the app's own gateway, where Studio runs an
  "image terminal" (the local Studio's gateway serves terminals for it,
  smstudio.local.kernel_gateway). Studio Classic's UI reaches it through the
  JupyterServer app, as a terminal named `<image ARN>__<id>__<instance type>`: when the
  presigned URL lands on a JupyterServer app, that is the terminal asked for.

Only cli/ prints: output goes to a `write` callback as it comes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import websocket

from smstudio.core import facts
from smstudio.core.config import Team
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.core.sagemaker import App, AppId, SageMaker
from smstudio.core.wait import TimedOut, until
from smstudio.workspaces import apps, jupyter

MARK = "SMSTUDIO"
INTERRUPT = "\x03"  # Ctrl-C, as a terminal sends it
INTERRUPTED = 130  # the shell's status for a command ended by SIGINT
POLL = 0.5  # seconds a read waits for the terminal before the deadline is looked at again
# the path under which each kind of app serves Jupyter (Studio's URLs; the local Studio's
# kernel gateway serves at the root, as SageMaker's does inside a KernelGateway app)
JUPYTERLAB_PATH = "/jupyterlab/default"
JUPYTER_SERVER_PATH = "/jupyter/default"  # Studio Classic's UI (the JupyterServer app)
CODE_EDITOR_PATH = "/codeeditor/default"


@dataclass(frozen=True)
class Target:
    """The app a command runs in: a space's (new Studio) or a user's Classic
    KernelGateway app, opened as `user` (the profile the presigned URL is made for)."""

    domain_id: str
    user: str
    space: str | None
    app_type: str
    app_name: str

    def app(self) -> AppId:
        ident: AppId = {"DomainId": self.domain_id, "AppType": self.app_type,
                        "AppName": self.app_name}  # fmt: skip
        if self.space:
            ident["SpaceName"] = self.space
        else:
            ident["UserProfileName"] = self.user
        return ident

    @property
    def label(self) -> str:
        return f"{self.space or self.user}/{self.app_type}/{self.app_name}"


def target(sm: SageMaker, team: Team, user: str, space: str | None, app: str | None) -> Target:
    """What TARGET [--space NAME | --app NAME] names: the user's workspace or a space
    (as `smstudio up`), or with `app` their Studio Classic KernelGateway app of that name."""
    if app is not None:
        if space is not None:
            raise BadInput(
                "--space and --app name different apps",
                "give --space for a JupyterLab space, or --app for a KernelGateway app",
            )
        apps.member(team, user)
        return Target(apps.find_domain(sm, team), user, None, "KernelGateway", app)
    ws = apps.workspace(sm, team, user, space)
    if ws.app_type != "JupyterLab":
        raise BadInput(
            f"space {ws.space} is a {ws.app_type} space: it has no Jupyter terminals",
            "use `smstudio ssh` for it, or name a JupyterLab space or a KernelGateway app",
        )
    return Target(ws.domain_id, ws.user, ws.space, ws.app_type, facts.SPACE_APP_NAME)


def running(sm: SageMaker, where: Target) -> App:
    """The target app, InService; else a clear error."""
    found = sm.app(where.app())
    status = f"status {found['Status']}" if found else "no app"
    if found is None or found["Status"] != "InService":
        start = (
            f"start it: `smstudio up {where.user} --space {where.space}`"
            if where.space
            else f"start {where.user}'s KernelGateway app {where.app_name} in Studio Classic"
        )
        raise SmstudioError(f"{where.label} is not running ({status})", start)
    return found


# --- the app's Jupyter server, through the presigned URL ------------------------------


@dataclass(frozen=True)
class Server:
    """A Jupyter server logged in to: its base URL, the session with its cookies, and
    the body that asks it for a terminal."""

    base: str
    session: requests.Session
    terminal: dict[str, str]

    def headers(self) -> dict[str, str]:
        return jupyter.xsrf_headers(self.session)

    def websocket_url(self, path: str) -> str:
        return jupyter.websocket_url(self.base, path)

    def cookie(self) -> str:
        return jupyter.cookie_header(self.session)


def server_base(landed: str, app_type: str) -> tuple[str, bool]:
    """The Jupyter server base URL a followed presigned URL landed on, and whether it is
    Studio Classic's UI (the JupyterServer app) rather than the app itself."""
    parts = urlsplit(landed)
    root = f"{parts.scheme}://{parts.netloc}"
    for path, classic in ((JUPYTERLAB_PATH, False), (JUPYTER_SERVER_PATH, True)):
        if path in parts.path:
            return root + parts.path.split(path, 1)[0] + path, classic
    if CODE_EDITOR_PATH in parts.path:
        raise SmstudioError(
            "the presigned URL opened a Code Editor space: it has no Jupyter terminals",
            "use `smstudio ssh` for Code Editor spaces",
        )
    if app_type == "KernelGateway" and parts.path.rstrip("/").endswith("/api"):
        return root + parts.path.rstrip("/").removesuffix("/api"), False
    raise SmstudioError(
        f"the presigned URL landed on {parts.path or '/'}, not on a Jupyter server",
        "check that the app is InService (`smstudio status`) and open it once in a browser",
    )


def image_terminal_name(app: App, token: str) -> str:
    """Studio Classic's name for a terminal in a KernelGateway app, asked of its
    JupyterServer app: `<image ARN>__<id>__<instance type>`."""
    spec = app.get("ResourceSpec") or {}
    image = spec.get("SageMakerImageVersionArn") or spec.get("SageMakerImageArn")
    if not image or not spec.get("InstanceType"):
        raise SmstudioError(
            f"{app.get('AppName')}: DescribeApp gives no image and instance type to open its "
            "terminal by",
            "restart the app in Studio Classic",
        )
    return f"{image}__{token}__{spec['InstanceType']}"


def login(sm: SageMaker, where: Target, timeout: float = 30) -> Server:
    """Follow a presigned URL for the target to its Jupyter server, as a browser would.
    The URL is asked for first: whoever may not open the app hears that from IAM, not
    whether it runs."""
    url = sm.presigned_url(where.domain_id, where.user, where.space)
    app = running(sm, where)
    session = requests.Session()
    try:
        landed = session.get(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        raise SmstudioError(
            f"could not follow the presigned URL of {where.label}: {type(exc).__name__}",
            "check that Studio is reachable from here (VPC-only domains: from inside the VPC)",
        ) from None
    if landed.status_code != 200:
        raise SmstudioError(
            f"the presigned URL of {where.label} did not open it (HTTP {landed.status_code})",
            "check that the app is InService (`smstudio status`); a URL works once, within "
            "5 minutes",
        )
    base, classic = server_base(landed.url, where.app_type)
    if "_xsrf" not in session.cookies:  # Jupyter Server sets it on a page load
        with contextlib.suppress(requests.RequestException):
            session.get(f"{base}/lab" if where.app_type != "KernelGateway" else f"{base}/api",
                        timeout=timeout)  # fmt: skip
    body: dict[str, str] = {}
    if classic and where.app_type == "KernelGateway":
        body = {"name": image_terminal_name(app, secrets.token_hex(4))}
    return Server(base, session, body)


# --- the command line and its transcript ----------------------------------------------


def command_text(argv: list[str]) -> str:
    """The command, as ssh takes it: its words joined by spaces, for the shell to read
    (`exec alice -- 'ls | wc -l'`)."""
    return " ".join(argv)


def command_line(command: str, token: str) -> str:
    """The one line typed into the terminal (Enter included)."""
    encoded = base64.b64encode(command.encode()).decode()
    return (
        "stty -echo -onlcr 2>/dev/null; "
        f"printf '%s_%s\\n' {MARK} START_{token}; "
        f'(eval "$(printf %s {encoded} | base64 -d)") </dev/null; '
        f"printf '%s_%s:%s:\\n' {MARK} END_{token} \"$?\"\r"
    )


class Transcript:
    """A terminal's output read as it streams: `feed` gives the command's output so far
    (never a piece of the end marker), `code` its exit status once the end marker came."""

    def __init__(self, token: str) -> None:
        self.start = f"{MARK}_START_{token}"
        self.end_prefix = f"{MARK}_END_{token}:"
        self.end = re.compile(re.escape(self.end_prefix) + r"(\d+):")
        self.buffer = ""
        self.started = False
        self.code: int | None = None

    def feed(self, text: str) -> str:
        if self.code is not None:
            return ""
        self.buffer += text
        if not self.started:
            at = self.buffer.find(self.start)
            newline = self.buffer.find("\n", at) if at >= 0 else -1
            if newline < 0:
                return ""
            self.started = True
            self.buffer = self.buffer[newline + 1 :]
        found = self.end.search(self.buffer)
        if found:
            self.code = int(found.group(1))
            shown, self.buffer = self.buffer[: found.start()], ""
            return shown
        held = self._held()
        shown, self.buffer = (
            self.buffer[: len(self.buffer) - held],
            self.buffer[len(self.buffer) - held :],
        )
        return shown

    def _held(self) -> int:
        """How much of the buffer's end may be the start of the end marker."""
        at = self.buffer.find(self.end_prefix)
        if at >= 0:  # the marker, waiting for its status digits
            return len(self.buffer) - at
        for size in range(min(len(self.end_prefix) - 1, len(self.buffer)), 0, -1):
            if self.end_prefix.startswith(self.buffer[-size:]):
                return size
        return 0


# --- the terminal ---------------------------------------------------------------------


def _terminal(server: Server, timeout: float) -> str:
    try:
        made = server.session.post(f"{server.base}/api/terminals", json=server.terminal,
                                   headers=server.headers(), timeout=timeout)  # fmt: skip
    except requests.RequestException as exc:
        raise SmstudioError(
            f"could not open a terminal: {type(exc).__name__}", "check that the app is running"
        ) from None
    if made.status_code not in (200, 201):
        raise SmstudioError(
            f"the app refused a terminal: HTTP {made.status_code} {made.text[:200]}",
            "check that the app's server has terminals (Jupyter Server with "
            "jupyter_server_terminals)",
        )
    return str(made.json()["name"])


def _close(server: Server, name: str) -> None:
    with contextlib.suppress(requests.RequestException):
        server.session.delete(f"{server.base}/api/terminals/{name}",
                              headers=server.headers(), timeout=10)  # fmt: skip


def run(server: Server, command: str, write: Callable[[str], None], timeout: float = 3600) -> int:
    """Run `command` in a new terminal of the server, its output to `write` as it
    comes; its exit status. The terminal is deleted afterwards, whatever happens. Ctrl-C
    (KeyboardInterrupt) interrupts the command in the app too, and goes on up."""
    name = _terminal(server, min(timeout, 60))
    try:
        with contextlib.closing(_connect(server, name, min(timeout, 30))) as ws:
            return _stream(ws, command, write, timeout)
    finally:
        _close(server, name)


def _connect(server: Server, name: str, timeout: float) -> Any:
    try:
        return websocket.create_connection(
            server.websocket_url(f"/terminals/websocket/{name}"),
            timeout=timeout,
            header={"Cookie": server.cookie()},
        )
    except (OSError, websocket.WebSocketException) as exc:
        raise SmstudioError(
            f"could not connect to terminal {name}: {type(exc).__name__}: {exc}",
            "check that the app is running and that websockets reach it",
        ) from None


def _stream(ws: Any, command: str, write: Callable[[str], None], timeout: float) -> int:
    """Type the command, then pass its output on until its status comes back."""
    token = secrets.token_hex(8)
    transcript = Transcript(token)

    def finished() -> int | None:
        _read(ws, transcript, write)
        return transcript.code

    try:
        ws.send(json.dumps(["stdin", command_line(command, token)]))
        ws.settimeout(POLL)
        return until(finished, timeout, interval=0)
    except TimedOut:
        _interrupt(ws)
        raise SmstudioError(
            f"the command did not finish within {timeout:g} s (interrupted)",
            "give it longer with --timeout, or start it in the background (nohup)",
        ) from None
    except KeyboardInterrupt:
        _interrupt(ws)
        raise


def _read(ws: Any, transcript: Transcript, write: Callable[[str], None]) -> None:
    """One message of the terminal's, if one comes within the socket's timeout."""
    try:
        raw = ws.recv()
    except websocket.WebSocketTimeoutException:
        return
    except (OSError, websocket.WebSocketException):
        raise SmstudioError(
            "the terminal's connection closed before the command finished",
            "check the app (`smstudio status`): it may have stopped",
        ) from None
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return
    if not isinstance(message, list) or not message:
        return
    if message[0] == "stdout" and len(message) > 1:
        shown = transcript.feed(str(message[1]))
        if shown:
            write(shown)
    elif message[0] == "disconnect":
        raise SmstudioError(
            "the terminal's shell ended before the command finished",
            "check the app (`smstudio status`): it may have stopped",
        )


def _interrupt(ws: Any) -> None:
    with contextlib.suppress(OSError, websocket.WebSocketException):
        ws.send(json.dumps(["stdin", INTERRUPT]))
