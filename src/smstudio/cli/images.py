"""`smstudio images`: build, push, list and check the Studio images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from smstudio.cli.base import app, console, out
from smstudio.core import aws
from smstudio.core.errors import BadInput
from smstudio.core.facts import HOME
from smstudio.images import bake, localbase, push
from smstudio.images.check import lint
from smstudio.images.kit import runner

# What an AppImageConfig declares about an image, as `images check` and `images test` take it.
Uid = Annotated[int, typer.Option(help="DefaultUid the AppImageConfig declares.")]
Gid = Annotated[int, typer.Option(help="DefaultGid the AppImageConfig declares.")]
MountPath = Annotated[str, typer.Option(help="FileSystemConfig.MountPath (the home).")]
AppTypes = Annotated[
    list[str] | None,
    typer.Option(
        help="App type(s) the image serves (default: its io.smstudio.app-types label): "
        "KernelGateway, JupyterLab, CodeEditor."
    ),
]
Kernels = Annotated[
    list[str] | None,
    typer.Option(help="Kernelspec names the AppImageConfig lists (KernelGateway)."),
]
DockerAccess = Annotated[
    bool,
    typer.Option(
        "--docker",
        help="The team turns Docker access on ([docker] access = true): check for the "
        "Docker CLI, its compose plugin and DOCKER_BUILDKIT=0.",
    ),
]

images_app = typer.Typer(
    help="Build the Studio images with docker buildx bake, list them, and check any image "
    "against the Studio contract before you push it.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")


@images_app.command("local-base")
def local_base(
    rebuild: Annotated[bool, typer.Option(help="Remake it even if it exists.")] = False,
    tag: Annotated[str, typer.Option(help="Tag of the imported image.")] = localbase.DEFAULT_TAG,
    suite: Annotated[str, typer.Option(help="Debian suite.")] = localbase.DEFAULT_SUITE,
    mirror: Annotated[str, typer.Option(help="Debian mirror.")] = localbase.DEFAULT_MIRROR,
    extra_ca: Annotated[
        Path | None,
        typer.Option(
            help="Folder of *.crt files to trust (default: the host's "
            "/usr/local/share/ca-certificates]."
        ),
    ] = None,
) -> None:
    """Make the offline local base image (debootstrap + docker import).

    A minimal Debian rootfs with python3, venv and CA certificates (plus extra ones),
    imported as smstudio/local-base:bookworm so images build with no registry access.
    Reused when present; --rebuild remakes it. Needs root and debootstrap.
    """
    request = localbase.LocalBaseRequest(tag, suite, mirror, extra_ca, rebuild)
    out.print(localbase.ensure(request, console))


@images_app.command("build")
def build(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help=f"Targets or groups: {', '.join(bake.TARGETS + bake.GROUPS)}."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(help="Debian/Ubuntu image to build FROM (default: debian:bookworm-slim)."),
    ] = None,
    local_base: Annotated[
        bool, typer.Option("--local-base", help="Build FROM the local base (made if missing).")
    ] = False,
    tag: Annotated[str | None, typer.Option(help="Image tag (default: dev).")] = None,
    registry: Annotated[
        str | None, typer.Option(help="Repository prefix for tags (default: smstudio).")
    ] = None,
    extra_ca: Annotated[
        Path | None, typer.Option(help="Folder of *.crt files trusted in builds and images.")
    ] = None,
) -> None:
    """Build images with docker buildx bake (default group: base, kernelgateway, jupyterlab).

    Shows the current step; the full log goes to ~/.smstudio/logs/.

    Examples: smstudio images build --local-base all;
    smstudio images build jupyterlab --tag 1.0 --registry ACCOUNT.dkr.ecr.REGION.amazonaws.com/team
    """
    if local_base and base_image:
        raise BadInput("--local-base and --base-image both given", "pass one of them")
    if local_base:
        base_image = localbase.ensure(localbase.LocalBaseRequest(), console)
    request = bake.BuildRequest(
        targets=tuple(targets or ["default"]),
        base_image=base_image,
        registry=registry,
        tag=tag,
        extra_ca_dir=str(extra_ca.resolve()) if extra_ca else None,
    )
    bake.build(request, console)


@images_app.command("push")
def push_images(
    targets: Annotated[list[str], typer.Argument(help="Built targets, e.g. jupyterlab.")],
    tag: Annotated[str, typer.Option(help="The built tag to push.")] = "dev",
) -> None:
    """Push built images to ECR (repository smstudio/TARGET, created if missing).

    Against the local Studio (eval "$(smstudio local env)") the images go to its registry.
    Prints each image's ECR URI pinned to its digest.
    """
    bake.validate_targets(tuple(targets))
    clients = aws.Aws()
    for target in targets:
        pushed = push.push(f"smstudio/{target}:{tag}", target, tag, clients, console)
        out.print(pushed.pinned)


@images_app.command("list")
def list_images() -> None:
    """The smstudio images in the local Docker engine."""
    table = Table("target", "app types", "size (MB)", "created")
    table.add_column("image", no_wrap=True)
    for row in bake.list_built():
        created = row.created.replace("T", " ")[:16]
        table.add_row(row.image, row.app_types, f"{row.size_mb:.0f}", created, row.ref)
    out.print(table)


@images_app.command("check")
def check_image(
    image: Annotated[str, typer.Argument(help="A built image, e.g. smstudio/jupyterlab:dev.")],
    uid: Uid = 1000,
    gid: Gid = 100,
    mount_path: MountPath = HOME,
    app_type: AppTypes = None,
    kernel: Kernels = None,
    health: Annotated[
        bool, typer.Option(help="Start JupyterLab images and ask their health endpoint.")
    ] = True,
    docker: DockerAccess = False,
) -> None:
    """Lint any built image against the Studio contract before you push it.

    Checks the platform, the default user against the declared UID/GID, files owned above
    UID/GID 65535 in any layer, files under the home mount path, the declared kernelspecs
    (KernelGateway), the health endpoint (JupyterLab) and, with --docker, what Docker
    access needs in the image. Each violation is printed with
    its fix; the exit code is 1 when there are violations, 2 for bad input.

    Example: smstudio images check my-team/image:1 --app-type KernelGateway --kernel python3
    """
    options = lint.CheckOptions(
        uid, gid, mount_path, tuple(app_type or ()), tuple(kernel or ()), health, docker
    )
    violations = lint.run(image, options, console)
    if not violations:
        out.print(f"[green]✓[/] {image} meets the Studio contract")
        return
    out.print(f"[red]✗[/] {image}: {len(violations)} violation(s) of the Studio contract")
    for v in violations:
        out.print(f"  [red]✗ {v.code}[/]: {escape(v.problem)}", soft_wrap=True)
        out.print(f"    [yellow]fix[/]: {escape(v.fix)}", soft_wrap=True)
    raise typer.Exit(1)


@images_app.command("test")
def test_image(
    image: Annotated[str, typer.Argument(help="A built image, e.g. my-team/jupyterlab:1.")],
    app_type: AppTypes = None,
    kernel: Kernels = None,
    uid: Uid = 1000,
    gid: Gid = 100,
    mount_path: MountPath = HOME,
    docker: DockerAccess = False,
    tests: Annotated[
        Path | None,
        typer.Option(help="Your own tests (default: ./tests when it exists)."),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Write a JUnit XML report here (for CI).")
    ] = None,
    runtime_base: Annotated[
        str | None,
        typer.Option(
            help="Debian image the mounted kernel gateway is built from "
            "(KernelGateway; default: the local base)."
        ),
    ] = None,
) -> None:
    """Test any image the way Studio will run it: pytest + testinfra, then your own tests.

    The kit checks the Studio contract (what `images check` lints) and the user inside;
    then, per app type, starts the image as Studio would: JupyterLab's health and idle
    endpoints answer and a kernel runs 1+1; KernelGateway: each listed kernel runs 1+1
    under a mounted kernel gateway; Code Editor: the workbench answers. Tests in ./tests
    (or --tests) run next to the kit's and get its fixtures: `image`, `host` (testinfra,
    inside the image as Studio's user), `expectation`, `studio_app`.

    Exit code: 0 all passed, 1 a test failed, 2 bad input.

    Example: smstudio images test my-team/jupyterlab:1 --junit-xml reports/image.xml
    """
    options = lint.CheckOptions(uid, gid, mount_path, tuple(app_type or ()),
                                tuple(kernel or ()), docker=docker)  # fmt: skip
    request = runner.KitRequest(image, options, tests, junit_xml, runtime_base)
    code = runner.run(request)
    if code != 0:
        raise typer.Exit(1 if code == 1 else 2)
