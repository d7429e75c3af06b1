"""``dockyard batch``: score a file with a model, in chunks, resumably."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from dockyard.cli.common import UriOption, client, handle_errors


@handle_errors
def batch(
    model: str = typer.Argument(
        ..., metavar="MODEL",
        help="models:/name@alias, models:/name/3, runs:/<run_id>/model or a package folder."),
    input_path: Path = typer.Argument(
        ..., metavar="INPUT",
        help="A Parquet file, a folder of Parquet files or a CSV file (.csv, .csv.gz)."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="The Parquet file to write: the input's columns and the "
                                     "predictions."),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1,
                                   help="Rows scored at a time; each chunk is saved as it is "
                                        "done, so an interrupted run resumes after it."),
    prediction_column: str = typer.Option(
        "prediction", "--prediction-column",
        help="Name of the predictions column (a model that returns several columns gives "
             "NAME_0, NAME_1 ... or its own column names)."),
    keep_columns: str = typer.Option(
        None, "--keep-columns",
        help='Comma-separated input columns to copy to the output beside the predictions '
             '(default: all; "" for none).'),
    no_resume: bool = typer.Option(False, "--no-resume",
                                   help="Start over: discard the chunks an interrupted run "
                                        "saved in OUTPUT.parts/."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUTPUT if it exists."),
    trust: bool = typer.Option(False, "--trust",
                               help="Load a package folder whose format runs code on load "
                                    "(pickle, joblib); packages from the registry are trusted."),
    uri: str = UriOption,
) -> None:
    """Score a Parquet or CSV file with a model, in chunks, resumably.

    The model is loaded once; the rows are read and scored chunk by chunk, and each scored chunk
    is saved in OUTPUT.parts/ so that a run stopped half-way resumes where it stopped when the
    same command runs again. The output is written only when every row is scored.

    Examples:

      dockyard batch models:/churn@champion customers.parquet -o scores.parquet

      dockyard batch ./churn-model data/ -o scores.parquet --keep-columns customer_id
    """
    from dockyard.deploy.batch import score_file
    from dockyard.manage.packages import is_model_uri

    columns = None
    if keep_columns is not None:
        columns = [name.strip() for name in keep_columns.split(",") if name.strip()]
    with contextlib.ExitStack() as stack:
        # A package folder needs no store; a models:/ or runs:/ URI is resolved through one.
        store = stack.enter_context(client(uri)) if is_model_uri(model) else None
        result = score_file(model, input_path, output, client=store, chunk_rows=chunk_rows,
                            columns=columns, prediction_column=prediction_column, progress=True,
                            resume=not no_resume, overwrite=overwrite,
                            trust=True if trust else None)
    resumed = f", {result.chunks_resumed:,} resumed" if result.chunks_resumed else ""
    typer.echo(f"scored {result.rows:,} rows in {result.chunks:,} chunks{resumed} "
               f"({result.seconds:.1f}s): {result.output}")
