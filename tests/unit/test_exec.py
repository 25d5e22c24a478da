"""`smstudio exec`'s pure parts: the line typed into the terminal, the transcript read
back as it streams (markers split anywhere, echo never mistaken for output), where a
presigned URL landed, and Studio Classic's image-terminal name."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from parliament import analyze_policy_string
from typer.testing import CliRunner

from smstudio import cli
from smstudio.core.errors import SmstudioError
from smstudio.register import iam
from smstudio.workspaces import exec as remote_exec

TOKEN = "0123abcd"


def screen(output: str, code: int, echo: bool = True) -> str:
    """What a terminal shows for the typed line: greeting, prompt, echo, then output."""
    line = remote_exec.command_line("whatever", TOKEN)
    shown = "Welcome!\r\n\x1b[?2004hsagemaker-user@app:~$ "
    if echo:
        shown += line.replace("\r", "\r\n") + "\x1b[?2004l\r"
    shown += f"SMSTUDIO_START_{TOKEN}\n{output}SMSTUDIO_END_{TOKEN}:{code}:\n"
    return shown + "\x1b[?2004hsagemaker-user@app:~$ "


def feed_all(chunks: list[str]) -> tuple[str, int | None]:
    transcript = remote_exec.Transcript(TOKEN)
    return "".join(transcript.feed(c) for c in chunks), transcript.code


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 10_000])
def test_output_between_the_markers_in_any_chunking(size: int) -> None:
    text = screen("sagemaker-user\nsecond line\n", 0)
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    assert feed_all(chunks) == ("sagemaker-user\nsecond line\n", 0)


def test_exit_status_and_output_without_a_final_newline() -> None:
    assert feed_all([screen("no newline", 1)]) == ("no newline", 1)
    assert feed_all([screen("", 127)]) == ("", 127)


def test_the_echoed_line_is_never_read_as_markers() -> None:
    line = remote_exec.command_line("false", TOKEN)
    transcript = remote_exec.Transcript(TOKEN)
    assert transcript.feed(line) == "" and not transcript.started and transcript.code is None


def test_output_is_streamed_before_the_end() -> None:
    transcript = remote_exec.Transcript(TOKEN)
    assert transcript.feed(f"junk SMSTUDIO_START_{TOKEN}\nfirst\n") == "first\n"
    assert transcript.feed("second\nSMSTUDIO_E") == "second\n"  # the marker's start is held
    assert transcript.feed("ND_other") == "SMSTUDIO_END_other"  # not ours: given back
    assert transcript.feed(f"\nSMSTUDIO_END_{TOKEN}:4") == "\n"  # status digits may go on
    assert transcript.code is None
    assert transcript.feed("2:\nprompt$ ") == ""
    assert transcript.code == 42
    assert transcript.feed("later") == ""


def test_the_line_runs_in_a_shell_with_status_and_no_stdin() -> None:
    """The typed line itself, run by sh: the command's quoting survives, `exit` ends only
    its subshell, stdin is empty, and the status comes back."""
    command = "printf '%s|' \"a b\" 'c'; read -r x && echo got-input; exit 3"
    line = remote_exec.command_line(command, TOKEN).removesuffix("\r")
    done = subprocess.run(["sh", "-c", line + "\necho after"], capture_output=True, text=True,
                          input="typed\n", timeout=30)  # fmt: skip
    transcript = remote_exec.Transcript(TOKEN)
    shown = transcript.feed(done.stdout)
    assert (shown, transcript.code) == ("a b|c|", 3)
    assert done.stdout.endswith("after\n")
    assert base64.b64encode(command.encode()).decode() in line


def test_words_are_joined_as_ssh_joins_them() -> None:
    assert remote_exec.command_text(["id", "-un"]) == "id -un"
    assert remote_exec.command_text(["ls | wc -l"]) == "ls | wc -l"


def test_where_the_presigned_url_landed() -> None:
    base = remote_exec.server_base
    assert base("https://abc.studio.us-east-1.sagemaker.aws/jupyterlab/default/lab?x=1",
                "JupyterLab") == ("https://abc.studio.us-east-1.sagemaker.aws/jupyterlab/default",
                                  False)  # fmt: skip
    assert base("http://127.0.0.1:4100/jupyterlab/default/lab", "JupyterLab") == (
        "http://127.0.0.1:4100/jupyterlab/default", False)  # fmt: skip
    # Studio Classic: the JupyterServer app's UI; the local Studio: the gateway itself
    assert base("https://d-1.studio.us-east-1.sagemaker.aws/jupyter/default/lab",
                "KernelGateway") == ("https://d-1.studio.us-east-1.sagemaker.aws/jupyter/default",
                                     True)  # fmt: skip
    assert base("http://127.0.0.1:4100/api", "KernelGateway") == ("http://127.0.0.1:4100", False)
    with pytest.raises(SmstudioError, match="Code Editor"):
        base("http://127.0.0.1:4100/codeeditor/default/", "JupyterLab")
    with pytest.raises(SmstudioError, match="not on a Jupyter server"):
        base("http://127.0.0.1:4100/api", "JupyterLab")


def test_websocket_urls_follow_the_scheme() -> None:
    import requests

    server = remote_exec.Server(
        "https://x.sagemaker.aws/jupyterlab/default", requests.Session(), {}
    )
    assert server.websocket_url("/terminals/websocket/1") == (
        "wss://x.sagemaker.aws/jupyterlab/default/terminals/websocket/1")  # fmt: skip
    local = remote_exec.Server("http://127.0.0.1:5/", requests.Session(), {})
    assert local.websocket_url("terminals/websocket/1").startswith("ws://127.0.0.1:5/")


def test_studio_classic_image_terminal_name() -> None:
    app = {"AppName": "datascience-app", "ResourceSpec": {
        "SageMakerImageArn": "arn:aws:sagemaker:us-east-1:081325390199:image/datascience-1.0",
        "InstanceType": "ml.t3.medium"}}  # fmt: skip
    name = remote_exec.image_terminal_name(app, "ab12")  # type: ignore[arg-type]
    assert name == ("arn:aws:sagemaker:us-east-1:081325390199:image/datascience-1.0"
                    "__ab12__ml.t3.medium")  # fmt: skip
    with pytest.raises(SmstudioError, match="no image and instance type"):
        remote_exec.image_terminal_name({"AppName": "x", "ResourceSpec": {}}, "ab12")


def test_a_target_is_a_space_or_a_classic_app() -> None:
    where = remote_exec.Target("d-1", "alice", "alice-space", "JupyterLab", "default")
    assert where.app() == {"DomainId": "d-1", "SpaceName": "alice-space",
                           "AppType": "JupyterLab", "AppName": "default"}  # fmt: skip
    classic = remote_exec.Target("d-1", "alice", None, "KernelGateway", "k")
    assert classic.app()["UserProfileName"] == "alice" and "SpaceName" not in classic.app()
    assert classic.label == "alice/KernelGateway/k"


def test_the_exec_admin_policy_is_linted_and_printed(tmp_path: Path) -> None:
    """`iam policy --exec-admin`: the platform team's exec policy for the team's domain,
    parliament-clean (its decisions are rows of tests/decisions.py)."""
    scope = iam.Scope(account="111122223333", region="us-east-1", domain_id="d-abcdefabcdef")
    policy = iam.exec_admin_policy(scope, "ml-team")
    assert analyze_policy_string(json.dumps(policy)).findings == []
    team = tmp_path / "team.toml"
    team.write_text(
        '[domain]\nname = "ml-team"\n[[users]]\nname = "alice"\nemail = "a@example.com"\n'
    )
    done = CliRunner().invoke(cli.app, ["iam", "policy", "--exec-admin", "--team", str(team),
                                        "--account", "111122223333", "--domain-id", "d-abcdefabcdef"])  # fmt: skip
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)["exec-admin"]
    assert printed == {"policy": "smstudio-ml-team-exec-admin", "document": policy}
    neither = CliRunner().invoke(cli.app, ["iam", "policy", "--team", str(team)])
    assert neither.exit_code != 0 and "--exec-admin" in str(neither.exception)
