from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, print_json, table

app = typer.Typer(help="List, upload and download a run's artifacts.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console, transient=True)


@app.command("list")
@handle_errors
def list_artifacts(
    run_id: str = typer.Argument(..., help="Run id."),
    path: str = typer.Option("", "--path", help="Folder inside the run's artifacts."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List a folder of a run's artifacts."""
    files = client(uri).list_artifacts(run_id, path)
    if as_json:
        print_json(files)
        return
    table(f"Artifacts of {run_id[:8]}/{path}", ["path", "type", "size"],
          [(f.path, "dir" if f.is_dir else "file", f.size) for f in files])


@app.command("download")
@handle_errors
def download_artifacts(
    run_id: str = typer.Argument(..., help="Run id."),
    path: str = typer.Option("", "--path", help="A file or folder (default: everything)."),
    dst: Path = typer.Option(Path("."), "--dst", "-o", help="Local folder to write into."),
    uri: str = UriOption,
) -> None:
    """Download a file or folder of a run's artifacts, with a progress bar."""
    c = client(uri)
    store = c.run_artifacts(run_id)
    total = store.size(path) if path and store.exists(path) else sum(
        (f.size or 0) for f in store.walk(path))
    with _progress() as bar:
        task = bar.add_task("downloading", total=total)
        out = c.download_artifacts(run_id, path, dst, progress=lambda n: bar.advance(task, n))
    console.print(f"downloaded to {out}")


@app.command("upload")
@handle_errors
def upload_artifact(
    run_id: str = typer.Argument(..., help="Run id (the run must be RUNNING)."),
    local_path: Path = typer.Argument(..., exists=True, help="File or folder to upload."),
    artifact_path: str = typer.Option(None, "--artifact-path", help="Folder inside the run."),
    uri: str = UriOption,
) -> None:
    """Upload a file or folder into a running run's artifacts, with a progress bar."""
    c = client(uri)
    files = [local_path] if local_path.is_file() else [p for p in local_path.rglob("*") if p.is_file()]
    with _progress() as bar:
        task = bar.add_task("uploading", total=sum(p.stat().st_size for p in files))
        advance = lambda n: bar.advance(task, n)  # noqa: E731
        if local_path.is_file():
            c.log_artifact(run_id, local_path, artifact_path, progress=advance)
        else:
            c.log_artifacts(run_id, local_path, artifact_path, progress=advance)
    console.print(f"uploaded {len(files)} file(s)")
