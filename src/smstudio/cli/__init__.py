"""The `smstudio` command line: thin typer sub-apps over the capabilities, rendered with
rich. Only this package prints."""

from __future__ import annotations

from rich.markup import escape

from smstudio.cli import admin, ci, images, local, ssh, workspace
from smstudio.cli.base import app, console
from smstudio.core import awserrors
from smstudio.core.errors import SmstudioError

__all__ = ["admin", "app", "ci", "images", "local", "main", "ssh", "workspace"]


def main() -> None:
    try:
        try:
            app()
        except Exception as exc:  # botocore's failures, said in words
            translated = awserrors.translate(exc)
            if translated is None:
                raise
            raise translated from None
    except SmstudioError as exc:
        console.print(f"[red]error:[/] {escape(exc.problem)}", soft_wrap=True)
        if exc.fix:
            console.print(f"  [yellow]fix:[/] {escape(exc.fix)}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
