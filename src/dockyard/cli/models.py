"""``dockyard models``: the model registry and model packages from the command line.

Every command is a thin layer over :class:`dockyard.Client`; the package
format (``dockyard.models``, which brings in numpy and pandas) is imported
only by the commands that read a package, so ``dockyard --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors, parse_tags
from dockyard.cli.output import console, err_console, fmt_time, print_json, table
from dockyard.client import Client
from dockyard.entities import ModelVersion, RegisteredModel
from dockyard.errors import InvalidArgument
from dockyard.manage.uris import ACCEPTED, MODELS_SCHEME, RUNS_SCHEME

if TYPE_CHECKING:
    from dockyard.models.package import ModelManifest

app = typer.Typer(
    help="Register, inspect, promote and fetch models and their packages.",
    no_args_is_help=True,
)

_PAGE = 1000
_URI_HELP = ("Model URI: models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest, "
             "models:/<name>/Production or runs:/<run_id>/<path>.")
_PACKAGE_HELP = _URI_HELP[:-1] + ", or the path of a local package folder."
TagOption = typer.Option(None, "--tag", "-t", metavar="KEY=VALUE",
                         help="Tag of the version (repeatable).")
OutputOption = typer.Option(None, "--output", "-o", "--dst", metavar="DIR",
                            help="A new (or empty) folder to write the package into "
                                 "(default: the model cache under DOCKYARD_HOME).")
PolicyFileOption = typer.Option(
    None, "--policy", "-p", metavar="POLICY.yaml",
    help="A YAML policy (the one dockyard validate --policy takes) to gate promotions by.")
ProtectOption = typer.Option(
    None, "--protect", metavar="ALIAS",
    help="An alias that, like Production, needs a passing validation (repeatable; "
         "default: champion).")
OverrideOption = typer.Option(
    None, "--override-reason", metavar="TEXT",
    help="Go ahead although the model's policy finds no passing validation of the version; "
         "the reason is recorded in the audit trail.")


# helpers ---------------------------------------------------------------------------------
def _is_uri(value: str) -> bool:
    return value.startswith((MODELS_SCHEME, RUNS_SCHEME))


def _read_text(source: str, what: str) -> str:
    """The text of a file, or of standard input for ``-``."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(f"{what} file {source} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{what} file {source} is a folder; give a Markdown file") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"{what} file {source} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {what} file {source}: {exc.strerror or exc}") from None


def _all_versions(c: Client, name: str, stage: str | None = None,
                  limit: int | None = None) -> Iterator[ModelVersion]:
    """The versions of a model, newest first, following page tokens."""
    token, seen = None, 0
    while True:
        page = c.search_model_versions(name, stage=stage, max_results=_PAGE, page_token=token)
        for mv in page.items:
            if limit is not None and seen >= limit:
                return
            seen += 1
            yield mv
        if not page.next_page_token:
            return
        token = page.next_page_token


def _version_of(c: Client, uri: str) -> ModelVersion:
    """The registered version a ``models:/`` URI names."""
    if not uri.startswith(MODELS_SCHEME):
        raise InvalidArgument(
            f"{uri!r:.200} does not name a registered version; give a models:/ URI "
            "(models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest ...)")
    resolved = c.resolve_model_uri(uri)
    assert resolved.model_version is not None  # a models:/ URI always resolves to a version
    return resolved.model_version


def _manifest(uri: str | None, target: str) -> tuple[ModelManifest, str]:
    """The manifest of the package ``target`` names, and where it was read from.

    A model URI is resolved through the client and its manifest read from the
    store (checked against the registered digest); anything else must be a
    local package folder (or its manifest file).
    """
    if _is_uri(target):
        from dockyard.manage.packages import read_logged_manifest

        c = client(uri)
        resolved = c.resolve_model_uri(target)
        manifest, _digest = read_logged_manifest(c, resolved)
        mv = resolved.model_version
        return manifest, resolved.source if mv is None else f"{mv.uri} ({resolved.source})"
    path = Path(target)
    if not path.exists():
        raise InvalidArgument(
            f"{target!r:.200} is not a model URI and there is no such folder; give {ACCEPTED}, "
            "or the path of a model package folder")
    from dockyard.models.package import read_manifest

    return read_manifest(path), str(path)


def _spec_summary(spec: Any) -> str:
    if not isinstance(spec, dict):
        return "-"
    if "columns" in spec:
        cols = spec["columns"] or []
        shown = ", ".join(f"{c.get('name')} ({c.get('dtype')})" for c in cols[:8])
        more = f", ... ({len(cols) - 8} more)" if len(cols) > 8 else ""
        return f"{len(cols)} column{'s' if len(cols) != 1 else ''}: {shown}{more}"
    if "tensor" in spec:
        t = spec["tensor"] or {}
        name = f"{t['name']} " if t.get("name") else ""
        return f"tensor {name}{t.get('dtype')} shape {list(t.get('shape') or [])}"
    return "-"


def _signature_summary(signature: dict[str, Any] | None) -> tuple[str, str]:
    """(inputs, outputs) in one line each."""
    if not signature:
        return "- (no signature)", "-"
    return _spec_summary(signature.get("inputs")), _spec_summary(signature.get("outputs"))


def _aliases(model: RegisteredModel) -> str:
    return ", ".join(f"{a} → {v}" for a, v in sorted(model.aliases.items())) or "-"


def _policy_line(model: RegisteredModel) -> str:
    """``'release' (digest 1a2b3c4d), protects champion`` or ``-``."""
    if model.policy is None:
        return "-"
    name = model.policy.get("name")
    label = f"{name!r}" if name else "(unnamed)"
    protected = ", ".join(model.protected_aliases) or "no alias"
    return f"{label} (digest {(model.policy_digest or '')[:8]}), protects {protected}"


def _rule_text(rule: Any) -> str:
    if isinstance(rule, dict) and "beats" in rule:
        limit = rule.get("max_p_value")
        return f"beats {rule['beats']}" + (f" with p <= {limit:g}" if limit is not None else "")
    return str(rule)


def _grid(rows: list[tuple[str, Any]]) -> None:
    grid = Table.grid(padding=(0, 2))
    for label, value in rows:
        grid.add_row(Text(label, style="bold"), Text("-" if value in (None, "") else str(value)))
    console.print(grid)


def _one_line(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


# commands ----------------------------------------------------------------------------------
@app.command("register")
@handle_errors
def register(
    source: str = typer.Argument(..., metavar="URI",
                                 help="The logged package: runs:/<run_id>/<path>, or a models:/ URI "
                                      "whose package the new version shares."),
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name (created if new)."),
    description: str = typer.Option("", "--description", "-d", help="Description of the version."),
    tag: list[str] = TagOption,
    card: str = typer.Option(None, "--card", metavar="FILE.md",
                             help="Model card in Markdown ('-' reads standard input)."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a logged model package as the next version of NAME.

    The package's manifest is read from the store: the version records its
    digest and signature, so a later load can check that nothing changed.

    Examples:

      dockyard models register runs:/4f1c2a9e6b7d4c0e9a8b7c6d5e4f3a2b/model churn
      dockyard models register runs:/4f1c.../model churn -d "weekly retrain" -t team=growth --card CARD.md
      dockyard models register models:/churn@champion churn-eu
    """
    tags = parse_tags(tag)
    card_text = _read_text(card, "card") if card is not None else ""
    mv = client(uri).register_model(source, name, description, tags or None, card_text)
    if as_json:
        print_json({**mv.model_dump(mode="json"), "uri": mv.uri})
        return
    console.print(f"Registered [bold]{escape(mv.name)}[/] version {mv.version}")
    typer.echo(mv.uri)


@app.command("list")
@handle_errors
def list_models(
    filter: str = typer.Option(None, "--filter", "-f", metavar="LIKE",
                               help="Names matching a SQL LIKE pattern, e.g. 'churn%'."),
    max_results: int = typer.Option(100, "--max", "-n", min=1, help="How many models to show."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List registered models by name.

    Examples:

      dockyard models list
      dockyard models list --filter 'churn%' --json
    """
    page = client(uri).search_registered_models(filter, max_results)
    if as_json:
        print_json(page.items)
        return
    table("Models", ["name", "latest version", "aliases", "owner", "task", "updated"],
          [(m.name, m.latest_version, _aliases(m), m.owner, m.task, fmt_time(m.updated_at))
           for m in page.items])
    if page.next_page_token:
        console.print(f"[dim]more models: raise --max (showing {len(page.items)})[/]")


@app.command("show")
@handle_errors
def show(
    target: str = typer.Argument(..., metavar="NAME_OR_URI",
                                 help="A model name, or a model URI for one version."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a registered model, or one version of it.

    With a NAME: description, owner, task, tags, aliases and how many
    versions. With a models:/ URI: that version's source, package digest,
    stage, aliases and signature. With a runs:/ URI: the logged package.

    Examples:

      dockyard models show churn
      dockyard models show models:/churn@champion
      dockyard models show models:/churn/3 --json
    """
    c = client(uri)
    if target.startswith(RUNS_SCHEME):
        _show_package(c, target, as_json)
    elif _is_uri(target) or "/" in target or "@" in target:
        _show_version(_version_of(c, target), as_json)
    else:
        _show_model(c, target, as_json)


def _show_model(c: Client, name: str, as_json: bool) -> None:
    model = c.get_registered_model(name)
    count = sum(1 for _ in _all_versions(c, name))
    if as_json:
        print_json({**model.model_dump(mode="json"), "versions_count": count})
        return
    _grid([
        ("name", model.name), ("description", model.description), ("owner", model.owner),
        ("task", model.task), ("versions", count), ("latest version", model.latest_version),
        ("aliases", _aliases(model)), ("policy", _policy_line(model)),
        ("created", fmt_time(model.created_at)), ("updated", fmt_time(model.updated_at)),
    ])
    if model.tags:
        table("Tags", ["key", "value"], sorted(model.tags.items()))


def _show_version(mv: ModelVersion, as_json: bool) -> None:
    if as_json:
        print_json({**mv.model_dump(mode="json"), "uri": mv.uri})
        return
    inputs, outputs = _signature_summary(mv.signature)
    lines = len(mv.card.splitlines())
    card = (f"{lines} line{'s' if lines != 1 else ''} (dockyard models card {mv.uri})"
            if mv.card else "-")
    _grid([
        ("model", mv.name), ("version", mv.version), ("uri", mv.uri), ("source", mv.source),
        ("run", mv.run_id), ("digest", mv.package_digest),
        ("stage", mv.stage.value + (" (locked)" if mv.locked else "")),
        ("aliases", ", ".join(mv.aliases)), ("description", mv.description),
        ("inputs", inputs), ("outputs", outputs), ("card", card),
        ("created", fmt_time(mv.created_at)), ("updated", fmt_time(mv.updated_at)),
    ])
    if mv.tags:
        table("Tags", ["key", "value"], sorted(mv.tags.items()))


def _show_package(c: Client, target: str, as_json: bool) -> None:
    from dockyard.manage.packages import read_logged_manifest

    resolved = c.resolve_model_uri(target)
    manifest, digest = read_logged_manifest(c, resolved)
    if as_json:
        print_json({"uri": resolved.uri, "source": resolved.source, "run_id": resolved.run_id,
                    "package_digest": digest, "manifest": manifest.model_dump(mode="json")})
        return
    inputs, outputs = _signature_summary(manifest.signature)
    _grid([
        ("source", resolved.source), ("run", resolved.run_id), ("digest", digest),
        ("flavor", manifest.flavor), ("inputs", inputs), ("outputs", outputs),
        ("python", manifest.python_version), ("requirements", len(manifest.requirements)),
        ("saved", manifest.created_at), ("registered", "no (dockyard models register URI NAME)"),
    ])


@app.command("versions")
@handle_errors
def versions(
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name."),
    stage: str = typer.Option(None, "--stage", "-s",
                              help="Only versions in this stage: None, Staging, Production, Archived."),
    max_results: int = typer.Option(1000, "--max", "-n", min=1, help="How many versions to show."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List the versions of a model, newest first.

    Examples:

      dockyard models versions churn
      dockyard models versions churn --stage production
    """
    c = client(uri)
    found = list(_all_versions(c, name, stage, max_results + 1))
    shown = found[:max_results]
    if as_json:
        print_json([{**mv.model_dump(mode="json"), "uri": mv.uri} for mv in shown])
        return
    table(f"Versions of {escape(name)}", ["version", "stage", "aliases", "run", "digest", "description",
                                  "created"],
          [(mv.version, mv.stage.value, ", ".join(mv.aliases) or "-", mv.run_id[:8],
            (mv.package_digest or "")[:12] or None, _one_line(mv.description),
            fmt_time(mv.created_at)) for mv in shown])
    if len(found) > max_results:
        console.print(f"[dim]more versions: raise --max (showing {max_results})[/]")


@app.command("alias")
@handle_errors
def alias(
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias, e.g. champion."),
    version: int = typer.Argument(None, metavar="VERSION",
                                  help="Version the alias should point at."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
    override_reason: str = OverrideOption,
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Point an alias at a version (creating or moving it), or remove it with --delete.

    models:/NAME@ALIAS then names that version. Moving an alias is atomic.
    An alias the model's policy protects (dockyard models policy) needs a
    passing validation of the version, or --override-reason.

    Examples:

      dockyard models alias churn champion 3
      dockyard models alias churn challenger --delete
      dockyard models alias churn champion 3 --override-reason "INC-142: roll back"
    """
    if delete and version is not None:
        raise typer.BadParameter("give either VERSION or --delete, not both")
    if not delete and version is None:
        raise typer.BadParameter("give the VERSION to point the alias at (or --delete)")
    if delete and override_reason is not None:
        raise typer.BadParameter("--override-reason is for setting an alias; removing one is "
                                 "not gated")
    c = client(uri)
    change = (c.delete_alias(name, alias_name) if delete
              else c.set_alias(name, alias_name, version, override_reason))
    if as_json:
        print_json(change)
        return
    label = f"{escape(change.name)}@{escape(change.alias)}"
    if delete:
        console.print(f"removed {label} (was version {change.previous_version})")
    elif change.previous_version is None:
        console.print(f"{label}: (new) → version {change.version}")
    elif change.previous_version == change.version:
        console.print(f"{label}: version {change.version} → version {change.version} (unchanged)")
    else:
        console.print(f"{label}: version {change.previous_version} → version {change.version}")


@app.command("stage")
@handle_errors
def stage(
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name."),
    version: int = typer.Argument(..., metavar="VERSION", help="Version number."),
    stage_name: str = typer.Argument(..., metavar="STAGE",
                                     help="None, Staging, Production or Archived (any case)."),
    archive_existing: bool = typer.Option(
        False, "--archive-existing",
        help="Move the other versions in that stage (Staging or Production) to Archived."),
    override_reason: str = OverrideOption,
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Move a version to another stage.

    A version in Production is locked: it cannot be deleted until it is
    moved to Archived. When the model has a policy (dockyard models policy),
    a move to Production needs a passing validation of the version, or
    --override-reason (an administrator's, on a server with authentication).
    There, a move to Production opens an approval request instead, and the
    command exits 1 naming it: an approver decides (dockyard approvals).

    Examples:

      dockyard models stage churn 3 Staging
      dockyard models stage churn 3 production --archive-existing
      dockyard models stage churn 3 production --override-reason "approved by risk, RISK-77"
    """
    done = client(uri).transition_stage(name, version, stage_name, archive_existing,
                                        override_reason)
    if as_json:
        print_json(done)
        return
    mv = done.model_version
    console.print(f"{escape(mv.name)} version {mv.version}: {done.previous_stage.value} → "
                  f"{mv.stage.value}")
    if done.archived:
        console.print(f"archived version{'s' if len(done.archived) > 1 else ''} "
                      f"{', '.join(str(n) for n in done.archived)}")


@app.command("policy")
@handle_errors
def policy(
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name."),
    policy_file: Path = PolicyFileOption,
    protect: list[str] = ProtectOption,
    protect_none: bool = typer.Option(False, "--protect-none",
                                      help="Protect no alias: only moves to Production are gated."),
    clear: bool = typer.Option(False, "--clear",
                               help="Remove the policy: promotions are no longer gated."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show, set or clear the validation policy that gates a model's promotions.

    With a policy, moving a version to Production, or pointing a protected
    alias at it, needs the latest validation of that version under this
    policy to have passed (dockyard models validations lists them); a new
    policy needs new validations. Without options, prints the current policy.

    Examples:

      dockyard models policy churn --policy release.yaml
      dockyard models policy churn --policy release.yaml --protect champion --protect canary
      dockyard models policy churn
      dockyard models policy churn --clear
    """
    if clear and (policy_file is not None or protect or protect_none):
        raise typer.BadParameter("--clear removes the policy; give it alone")
    if policy_file is None and (protect or protect_none):
        raise typer.BadParameter("--protect and --protect-none go with --policy",
                                 param_hint="--policy")
    if protect and protect_none:
        raise typer.BadParameter("give --protect or --protect-none, not both")
    c = client(uri)
    if clear:
        model = c.set_model_policy(name, None)
    elif policy_file is not None:
        aliases: list[str] = [] if protect_none else list(protect or ["champion"])
        model = c.set_model_policy(name, policy_file, aliases)
    else:
        model = c.get_registered_model(name)
    if as_json:
        print_json({"name": model.name, "policy": model.policy,
                    "policy_digest": model.policy_digest,
                    "protected_aliases": model.protected_aliases})
        return
    if model.policy is None:
        console.print(f"{escape(model.name)} has no policy: promotions are not gated"
                      + ("" if clear else f" (set one with dockyard models policy "
                                          f"{escape(model.name)} --policy POLICY.yaml)"))
        return
    _grid([("model", model.name), ("policy", model.policy.get("name") or "(unnamed)"),
           ("digest", model.policy_digest),
           ("gates", "Production, " + (", ".join(f"@{a}" for a in model.protected_aliases)
                                       or "no alias"))])
    table("Rules", ["rule"], [(_rule_text(r),) for r in model.policy.get("rules", [])])


@app.command("validations")
@handle_errors
def validations(
    name: str = typer.Argument(..., metavar="NAME", help="Registered model name."),
    version: int = typer.Argument(None, metavar="[VERSION]",
                                  help="Only this version's validations."),
    max_results: int = typer.Option(20, "--max", "-n", min=1,
                                    help="How many validations to show."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List the validations recorded on a model's versions, newest first.

    The gate reads, for each version, the latest validation under the
    model's current policy; the 'policy' column marks those with (current).

    Examples:

      dockyard models validations churn
      dockyard models validations churn 3 --json
    """
    c = client(uri)
    model = c.get_registered_model(name)
    found = c.list_validations(name, version, max_results)
    if as_json:
        print_json(found)
        return

    def verdict(passed: bool | None) -> str:
        return "-" if passed is None else "passed" if passed else "failed"

    def under(digest: str | None, policy_name: str | None) -> str:
        if digest is None:
            return "-"
        current = " (current)" if digest == model.policy_digest else ""
        return f"{policy_name or '(unnamed)'} {digest[:8]}{current}"

    title = f"Validations of {escape(name)}" + (f" version {version}" if version else "")
    if not found:
        console.print(f"no validations of {escape(name)}"
                      + (f" version {version}" if version else "") + " are recorded")
        console.print(f"policy: {escape(_policy_line(model))}")
        return
    table(title, ["version", "verdict", "policy", "summary", "report", "recorded", "by"],
          [(val.version, verdict(val.passed), under(val.policy_digest, val.policy_name),
            _one_line(val.summary, 80), val.report_uri or None, fmt_time(val.created_at),
            val.created_by) for val in found])
    console.print(f"policy: {escape(_policy_line(model))}")


@app.command("download")
@handle_errors
def download(
    target: str = typer.Argument(..., metavar="URI", help=_URI_HELP),
    output: Path = OutputOption,
    uri: str = UriOption,
) -> None:
    """Download a model package and print the folder it is in.

    Without -o the package goes to the model cache, keyed by its digest: a
    package already there is not downloaded again. The package's checksums
    are verified when it is loaded.

    Examples:

      dockyard models download models:/churn@champion -o ./churn
      cd "$(dockyard models download models:/churn/3)"
    """
    path = client(uri).download_model(target, output)
    typer.echo(str(path))


@app.command("card")
@handle_errors
def card(
    target: str = typer.Argument(..., metavar="URI", help="A models:/ URI naming one version."),
    set_from: str = typer.Option(None, "--set", "--edit-from", metavar="FILE.md",
                                 help="Replace the card with this Markdown file ('-' reads "
                                      "standard input)."),
    uri: str = UriOption,
) -> None:
    """Print a version's model card (Markdown), or replace it with --set.

    Cards may be edited in every stage; through a server each edit is
    recorded in the audit trail.

    Examples:

      dockyard models card models:/churn/3 > CARD.md
      dockyard models card models:/churn/3 --set CARD.md
      generate-card | dockyard models card models:/churn@champion --set -
    """
    c = client(uri)
    mv = _version_of(c, target)
    if set_from is not None:
        text = _read_text(set_from, "card")
        mv = c.update_model_version(mv.name, mv.version, card=text)
        console.print(f"updated the card of {escape(mv.name)} version {mv.version} "
                      f"({len(mv.card)} characters)")
        return
    if not mv.card:
        err_console.print(f"{escape(mv.name)} version {mv.version} has no card; set one with "
                          f"dockyard models card {escape(mv.uri)} --set CARD.md")
        return
    sys.stdout.write(mv.card if mv.card.endswith("\n") else mv.card + "\n")


@app.command("env")
@handle_errors
def env(
    target: str = typer.Argument(..., metavar="URI", help=_PACKAGE_HELP),
    format: str = typer.Option("text", "--format", metavar="text|requirements|json",
                               help="text (for people), requirements (requirements.txt lines, "
                                    "for pip install -r) or json."),
    uri: str = UriOption,
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
) -> None:
    """Print the Python version and pinned requirements a model package needs.

    Examples:

      dockyard models env models:/churn@champion
      dockyard models env models:/churn/3 --format requirements > requirements.txt
      dockyard models env ./churn-model --json
    """
    fmt = "json" if as_json else format.lower()
    if fmt not in ("text", "requirements", "json"):
        raise typer.BadParameter(f"{format!r} is not one of text, requirements, json",
                                 param_hint="--format")
    manifest, where = _manifest(uri, target)
    if fmt == "requirements":
        for line in manifest.requirements:
            typer.echo(line)
        return
    if fmt == "json":
        print_json({"package": where, "flavor": manifest.flavor,
                    "python_version": manifest.python_version,
                    "requirements": manifest.requirements,
                    "dockyard_version": manifest.dockyard_version})
        return
    _grid([("package", where), ("flavor", manifest.flavor), ("python", manifest.python_version),
           ("saved with", f"dockyard {manifest.dockyard_version}")])
    table("Requirements", ["requirement"], [(line,) for line in manifest.requirements])


@app.command("check-env")
@handle_errors
def check_env(
    target: str = typer.Argument(..., metavar="URI", help=_PACKAGE_HELP),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Check that the running Python environment fits a model package.

    Compares the package's Python version (major.minor) and pinned
    requirements with what is installed here. Exits 0 when everything fits,
    1 when something is missing or at another version (listed in a table).

    Examples:

      dockyard models check-env models:/churn@champion
      dockyard models check-env ./churn-model --json
    """
    from dockyard.models.environment import check_environment, python_version

    manifest, where = _manifest(uri, target)
    mismatches = check_environment(manifest)
    if as_json:
        print_json({"package": where, "matches": not mismatches,
                    "mismatches": [{"kind": m.kind, "name": m.name, "required": m.required,
                                    "installed": m.installed, "message": m.message}
                                   for m in mismatches]})
    elif not mismatches:
        console.print(f"the environment matches {escape(where)}: Python {python_version()}, "
                      f"{len(manifest.requirements)} requirement(s) satisfied")
    else:
        table(f"Environment mismatches for {escape(where)}",
              ["kind", "package", "required", "installed"],
              [(m.kind, m.name, m.required, m.installed or "not installed") for m in mismatches])
        n = len(mismatches)
        err_console.print(f"[bold red]error:[/] the running environment does not fit the package "
                          f"({n} mismatch{'es' if n != 1 else ''}); "
                          f"'dockyard models env {escape(target)} --format requirements' "
                          "lists what it needs")
    if mismatches:
        raise typer.Exit(1)
