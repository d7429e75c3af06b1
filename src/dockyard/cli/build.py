"""``dockyard build``: write a container build context for a model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from dockyard.cli.common import UriOption, client, handle_errors
from dockyard.cli.output import console, err_console


@handle_errors
def build(
    model: str = typer.Argument(
        ..., metavar="MODEL",
        help="The model to build: models:/<name>@<alias>, models:/<name>/<version>, "
             "models:/<name>/latest or runs:/<run_id>/<path>. An alias is read once; the "
             "context pins the version it points at."),
    output: Path = typer.Option(
        ..., "--output", "-o", file_okay=False,
        help="Folder to write the build context into; it must be new or empty unless --force."),
    name: str = typer.Option(
        None, "--name",
        help="Name the image serves the model under, /v2/models/<name> (default: the "
             "registered name)."),
    dockyard_requirement: str = typer.Option(
        None, "--dockyard-requirement", metavar="REQ",
        help="Pip requirement the image installs Dockyard from, e.g. 'dockyard==0.1.0' on a "
             "private index (pass --build-arg PIP_INDEX_URL=... to docker build), instead of a "
             "wheel built from the installed Dockyard."),
    force: bool = typer.Option(
        False, "--force", help="Replace what is in the output folder if it is not empty."),
    uri: str = UriOption,
) -> None:
    """Write a container build context (Dockerfile, pinned requirements, model) for MODEL.

    The image serves the model with dockyard serve on port 8080 as a non-root
    user, with a health check on /v2/health/ready. Its requirements are
    locked from this environment: the model's requirements must be installed
    here.

    Example:

      dockyard build models:/churn@champion -o build/

      docker build -t churn:3 build/ && docker run -p 8080:8080 churn:3
    """
    from dockyard.deploy.build import build_context

    def progress(message: str) -> None:
        err_console.print(f"[dim]{escape(message)}...[/]" if not message.startswith("note:")
                          else f"[yellow]{escape(message)}[/]")

    result = build_context(model, output, client=client(uri), name=name,
                           dockyard_requirement=dockyard_requirement, force=force,
                           progress=progress)
    folder = str(output).rstrip("/") + "/"
    console.print(f"wrote the build context of [bold]{escape(result.name)}[/] version "
                  f"{escape(result.version)} into {escape(folder)} ({len(result.lock)} locked "
                  f"distributions, {escape(result.base_image)}"
                  f"{', served with --trust' if result.trust else ''})")
    console.print(f"  docker build -t {escape(result.tag)} {escape(folder)}")
    console.print(f"  docker run -p 8080:8080 {escape(result.tag)}")
