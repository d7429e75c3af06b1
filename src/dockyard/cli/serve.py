"""``dockyard serve``: the inference server for model packages."""

from __future__ import annotations

import re

import typer
from rich.markup import escape

from dockyard.cli.common import UriOption, client, handle_errors
from dockyard.cli.output import err_console

_NAMED = re.compile(r"^([^=/@:]+)=(.+)\Z")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _bytes(text: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size; give bytes or e.g. 64MiB, 512k",
                                 param_hint="--max-body-size")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "")[:1].lower()])


@handle_errors
def serve(
    models: list[str] = typer.Argument(
        ..., metavar="MODEL",
        help="What to serve: models:/<name>@<alias>, models:/<name>/<version>, "
             "runs:/<run_id>/<path> or a package folder. Give several to host several models "
             "or versions; NAME=MODEL hosts one under another name."),
    host: str = typer.Option("127.0.0.1", "--host", "-h", help="Address to bind."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", min=1,
                                help="Server processes; each loads the models."),
    name: str = typer.Option(None, "--name",
                             help="Name of the model in /v2/models/<name> (one model only; "
                                  "default: the registered name or the folder's name)."),
    model_version: str = typer.Option(None, "--model-version",
                                      help="The version a package folder is served, logged and "
                                           "counted as (one model only; default: the first 12 "
                                           "hex digits of its digest). Container images built "
                                           "by dockyard build pass the registered version."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1,
                                       help="Most rows coalesced into one predict call."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0.0,
                                      help="Longest a request waits for a batch to fill while "
                                           "the model is busy."),
    max_queue: int = typer.Option(256, "--max-queue", min=1,
                                  help="Requests queued per model before answering 503 "
                                       "with Retry-After."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.0,
                                  help="Seconds before a request is answered 504 (0: no limit)."),
    max_body_size: str = typer.Option("64MiB", "--max-body-size",
                                      help="Largest request body (413 beyond)."),
    max_rows: int = typer.Option(100_000, "--max-rows", min=1,
                                 help="Most rows in one request (413 beyond)."),
    strict: bool = typer.Option(False, "--strict",
                                help="Refuse inputs the signature does not name (default: "
                                     "drop them)."),
    no_prediction_log: bool = typer.Option(False, "--no-prediction-log",
                                           help="Do not record predictions (by default every "
                                                "prediction is logged for monitoring)."),
    log_uri: str = typer.Option(None, "--prediction-log-uri",
                                help="Where the prediction log goes: a folder or "
                                     "s3://bucket/prefix (default: the artifact root, "
                                     "DOCKYARD_ARTIFACTS)."),
    sample_rate: float = typer.Option(1.0, "--sample-rate", min=0.0, max=1.0,
                                      help="Fraction of predictions logged."),
    flush_interval: float = typer.Option(1.0, "--flush-interval", min=0.01,
                                         help="Seconds between prediction log flushes: the "
                                              "most a crash can lose."),
    rotate_seconds: float = typer.Option(300.0, "--rotate-seconds", min=0.1,
                                         help="Seconds after which logged predictions are "
                                              "uploaded as Parquet, where queries and monitors "
                                              "see them."),
    monitor_profiles: bool = typer.Option(
        True, "--monitor-profiles/--no-monitor-profiles",
        help="Profile logged predictions for the monitors of the served models, so that "
             "monitor runs merge profiles instead of reading every row."),
    deployment: str = typer.Option(None, "--deployment",
                                   help="Deployment name written with every prediction."),
    no_access_log: bool = typer.Option(False, "--no-access-log",
                                       help="Do not write the access log (by default one JSON "
                                            "line per request on standard output)."),
    log_level: str = typer.Option("info", "--log-level",
                                  help="debug, info, warning or error."),
    trust: bool = typer.Option(False, "--trust",
                               help="Load a local package folder even if its format runs code "
                                    "(pickle, joblib). Packages from the record are trusted."),
    uri: str = UriOption,
) -> None:
    """Serve models over the Open Inference Protocol (KServe V2), KServe V1 and /invocations.

    Ready at /v2/health/ready once every model is loaded and warmed up;
    Prometheus metrics at /metrics. Ctrl-C or SIGTERM drains what is in
    flight and writes the prediction log out before exiting.
    """
    from dockyard.manage.packages import is_model_uri
    from dockyard.serve.app import ServeConfig
    from dockyard.serve.hosting import resolve_model
    from dockyard.serve.runner import run

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("give debug, info, warning or error", param_hint="--log-level")
    if name is not None and len(models) > 1:
        raise typer.BadParameter("--name names one model; with several, write NAME=MODEL",
                                 param_hint="--name")
    if model_version is not None and len(models) > 1:
        raise typer.BadParameter("--model-version versions one model", param_hint="--model-version")
    body_bytes = _bytes(max_body_size)
    specs = []
    record = None
    for target in models:
        chosen = name
        match = _NAMED.match(target)
        if match is not None and not is_model_uri(target):
            chosen, target = match.groups()
        if is_model_uri(target) and record is None:
            record = client(uri)
        specs.append(resolve_model(target, name=chosen, client=record, trust=trust or None,
                                   version=model_version))
    config = ServeConfig(
        models=tuple(specs),
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        timeout=timeout or None,
        max_body_bytes=body_bytes,
        max_rows=max_rows,
        extra_columns="error" if strict else "drop",
        prediction_log=not no_prediction_log,
        log_uri=log_uri,
        log_sample_rate=sample_rate,
        log_flush_interval=flush_interval,
        log_rotate_seconds=rotate_seconds,
        monitor_profiles=monitor_profiles,
        deployment=deployment,
        access_log=not no_access_log,
    )
    for spec in specs:
        err_console.print(f"serving [bold]{escape(spec.name)}[/] version {spec.version} "
                          f"from {escape(spec.uri)}")
    err_console.print(f"listening on http://{host}:{port} with {workers} worker(s); "
                      "ready at /v2/health/ready, metrics at /metrics")
    code = run(config, host=host, port=port, workers=workers, log_level=log_level.lower())
    if code:
        raise typer.Exit(code)

