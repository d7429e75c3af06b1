from __future__ import annotations

import typer

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, fmt_time, print_json, table

app = typer.Typer(help="List and create experiments.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_experiments(
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    name_like: str = typer.Option(None, "--name-like", help="SQL LIKE pattern, e.g. 'churn%'."),
    max_results: int = typer.Option(1000, "--max-results", "-n", help="How many to show."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List experiments by name."""
    page = client(uri).search_experiments(project, name_like, max_results)
    if as_json:
        print_json(page.items)
        return
    table("Experiments", ["id", "name", "description", "created"],
          [(e.id, e.name, e.description, fmt_time(e.created_at)) for e in page.items])


@app.command("create")
@handle_errors
def create_experiment(
    name: str = typer.Argument(..., help="Experiment name (unique in its project)."),
    project: str = typer.Option(None, "--project", "-p", help="Project name (default: 'default')."),
    description: str = typer.Option("", "--description", "-d"),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an experiment."""
    exp = client(uri).create_experiment(name, project, description)
    if as_json:
        print_json(exp)
    else:
        console.print(f"created experiment [bold]{exp.name}[/] ({exp.id})")
