"""``dockyard loadtest``: load a deployment, report latency and throughput, check its SLA."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, err_console, print_json, table
from dockyard.entities.deployment import Sla
from dockyard.errors import InvalidArgument, InvalidState

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*\Z")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration; write e.g. 30s or 2m",
                                 param_hint="--duration")
    return float(match.group(1)) * _SCALE[match.group(2) or "s"]


@handle_errors
def loadtest(
    deployment: str = typer.Argument(None, help="The deployment to load (its endpoint and SLA "
                                                "come from the record)."),
    duration: str = typer.Option("30s", "--duration", "-d", help="How long: 30s, 2m, 500ms."),
    concurrency: int = typer.Option(16, "--concurrency", "-c", min=1, max=1024,
                                    help="Requests kept in flight."),
    url: str = typer.Option(None, "--url",
                            help="Load this inference URL instead of a deployment's "
                                 "(e.g. http://127.0.0.1:8080/v2/models/churn/infer)."),
    data: Path = typer.Option(None, "--data",
                              help="A JSON file with the request body (default: the model's "
                                   "input example as an Open Inference Protocol request)."),
    sla_p99_ms: float = typer.Option(None, "--sla-p99-ms",
                                     help="Check this p99 latency instead of the deployment's."),
    sla_min_throughput: float = typer.Option(None, "--sla-min-throughput",
                                             help="Check this throughput instead."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Load a deployment for a while; report p50, p95 and p99 latency, throughput and errors,
    and whether its SLA holds (exit 1 if not).

    \b
    dockyard loadtest churn --duration 30s --concurrency 16
    dockyard loadtest --url http://127.0.0.1:8080/v2/models/churn/infer --data body.json
    """
    from dockyard.deploy.loadtest import check_sla, run_load, v2_request

    seconds = _seconds(duration)
    if (deployment is None) == (url is None):
        raise typer.BadParameter("name a deployment, or give --url", param_hint="DEPLOYMENT")
    sla, body = Sla(), None
    if data is not None:
        try:
            body = orjson.loads(data.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidArgument(f"cannot read the request body in {data}: {exc}") from None
    if deployment is not None:
        c = client(uri)
        record = c.store.get_deployment(deployment)
        stable = record.stable
        if record.status == "stopped" or not record.endpoint:
            raise InvalidState(f"deployment {deployment!r} is {record.status} with no endpoint; "
                               f"start it first (dockyard deploy start {deployment})")
        sla = record.sla
        url = f"{record.endpoint.rstrip('/')}/v2/models/{stable.model_name}/infer"
        if body is None:
            example = c.load_model(stable.uri).input_example
            if example is None:
                raise InvalidArgument(f"{stable.uri} has no input example to send; give "
                                      "--data with a request body")
            body = v2_request(example)
    elif not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http(s):// URL", param_hint="--url")
    elif body is None:
        raise typer.BadParameter("with --url, give the request body in --data",
                                 param_hint="--data")
    sla = Sla(p99_ms=sla_p99_ms if sla_p99_ms is not None else sla.p99_ms,
              min_throughput=sla_min_throughput if sla_min_throughput is not None
              else sla.min_throughput)
    assert url is not None and body is not None
    with Progress(TextColumn("loading {task.description}"), BarColumn(),
                  TextColumn("{task.fields[answered]:,} answers"), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(url, total=seconds, answered=0)
        result = run_load(url, body, duration=seconds, concurrency=concurrency,
                          progress=lambda elapsed, n: bar.update(task, completed=elapsed,
                                                                 answered=n))
    broken = check_sla(result, sla)
    if as_json:
        print_json({**result.to_dict(), "sla": sla.model_dump(), "sla_holds": not broken,
                    "sla_broken": broken})
    else:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        table(f"Load test: {concurrency} in flight for {result.seconds:.1f} s",
              ["requests", "errors", "throughput", "p50", "p95", "p99"],
              [(f"{result.requests:,}", f"{result.errors:,}",
                f"{result.throughput:,.1f}/s", ms(result.p50_ms), ms(result.p95_ms),
                ms(result.p99_ms))])
        if broken:
            console.print("[bold red]SLA broken:[/] " + "; ".join(broken))
        elif sla.p99_ms is None and sla.min_throughput is None:
            console.print("no errors; no latency or throughput SLA to check (set one with "
                          "dockyard deploy --sla-p99-ms ...)")
        else:
            console.print("[bold green]SLA holds[/]")
    if broken:
        raise typer.Exit(1)
