"""Command line: ``turnscore serve`` (the service, built by :mod:`turnscore.serve`), ``turnscore score``
(a JSONL file scored offline by :mod:`turnscore.offline`) and ``turnscore prepare`` (gold records to a
trainer's files, :mod:`turnscore.prepare`).

``serve`` has one flag per field of :class:`turnscore.settings.Settings` (``--redis-url`` for ``redis_url``,
...), generated from the settings model, so a field added there is a flag at once. Every flag falls back to
its environment variable ``TURNSCORE_<FIELD>``; flags win over env vars.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any

import typer

from turnscore.settings import Settings

app = typer.Typer(
    name="turnscore",
    help="Turn-level rewards and dual-level advantages for RL on tool use.",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        from turnscore import __version__

        typer.echo(f"turnscore {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
    ),
) -> None:
    """turnscore: MatchTIR turn-level rewards as a service."""


@app.command("score")
def score(
    input_paths: list[str] = typer.Argument(  # noqa: B008
        ...,
        metavar="IN.jsonl...",
        help="One /v1/score request per line ('-': stdin); several files share one gold cache.",
    ),
    output: str = typer.Option(
        ..., "-o", "--output", help="Output JSONL, one record per input line ('-': stdout)."
    ),
    preset: str | None = typer.Option(None, "--preset", help="Preset for lines that name none."),
    config: str | None = typer.Option(
        None, "--config", help="JSON object of config overrides (a line's own win)."
    ),
    step: int | None = typer.Option(None, "--step", min=0, help="Training step for lines that give none."),
    explain: bool = typer.Option(False, "--explain", help="Add per-call matches."),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar on stderr (on a terminal only)."
    ),
    summary: bool = typer.Option(
        False,
        "--summary",
        help="At the end, mean/std of the return per preset and source (the group id up to ':'): on stdout, "
        "or on stderr when -o is '-'.",
    ),
    core: str = typer.Option(
        "auto",
        "--core",
        envvar="TURNSCORE_CORE",
        help="Scoring core: native (the compiled extension), python, or auto (native when installed).",
    ),
    gold_cache: int = typer.Option(
        Settings.model_fields["cache_max_entries"].default,
        "--gold-cache",
        min=0,
        help="Gold traces kept for later lines' gold_ref (0 = none).",
    ),
) -> None:
    """Score JSONL files offline with the same core as the service; a line may send the `gold_ref` of a
    trace an earlier line (of any file of the run) sent in full."""
    from turnscore.core import native
    from turnscore.offline import run

    try:
        native.select(core)
    except (RuntimeError, ValueError) as exc:
        typer.echo(f"turnscore score: {exc}", err=True)
        raise typer.Exit(2) from None
    code = run(
        input_paths,
        output,
        preset=preset,
        config_json=config,
        step=step,
        explain=explain,
        progress=progress,
        summary=summary,
        cache_entries=gold_cache,
    )
    raise typer.Exit(code)


@app.command("prepare")
def prepare(
    input_paths: list[str] = typer.Argument(  # noqa: B008
        ..., metavar="GOLD.jsonl...", help="Gold-data record files (tests/data/README.md)."
    ),
    trainer: str = typer.Option(..., "--for", help="The trainer: verl, openrlhf, trl or slime."),
    output: str = typer.Option(..., "-o", "--output", help="Output folder (created; its files replaced)."),
    split: float = typer.Option(0.95, "--split", help="Share of each source that goes to train (rest: val)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split (records ranked by sha256(seed:id))."),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", metavar="FILE", help="System message text (default: a short instruction)."
    ),
    tools_catalog: str | None = typer.Option(
        None,
        "--tools-catalog",
        metavar="FILE",
        help="Catalog for records whose tools are a meta.tools_ref (default: the file it names, beside the "
        "gold file).",
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Report bad records and write the others (default: write nothing)."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar on stderr (on a terminal only)."
    ),
) -> None:
    """Write what a trainer reads (prompts, gold labels, tool configs) from gold-data records:
    docs/recipes.md."""
    from turnscore.prepare import run

    code = run(
        trainer,
        input_paths,
        output,
        split=split,
        seed=seed,
        system_prompt=system_prompt,
        tools_catalog=tools_catalog,
        skip_invalid=skip_invalid,
        progress=progress,
    )
    raise typer.Exit(code)


def _flag_type(annotation: Any) -> type:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        annotation = args[0]
    if annotation in (bool, int, float, str) or annotation is Path:
        return typing.cast(type, annotation)
    return str


def _serve_signature() -> inspect.Signature:
    params = []
    for name, field in Settings.model_fields.items():
        typ = _flag_type(field.annotation)
        flag = "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{name.replace('_', '-')}"] if typ is bool else [flag]
        default = field.default
        help_text = f"{field.description or ''} (env TURNSCORE_{name.upper()}, default {default!r})"
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(None, *decls, help=help_text, show_default=False),
                annotation=typ | None,
            )
        )
    return inspect.Signature(params)


def serve(**kwargs: Any) -> None:
    """Run the service: HTTP (--workers N processes share nothing but Redis and metrics), with
    --grpc-port also gRPC in the same processes (--no-http: gRPC alone)."""
    from pydantic import ValidationError

    from turnscore import serve as serving

    flags = {k: v for k, v in kwargs.items() if v is not None}
    try:
        settings = Settings(**flags)
    except ValidationError as exc:
        typer.echo(f"invalid settings:\n{exc}", err=True)
        raise typer.Exit(2) from None
    try:
        code = serving.run(settings, flags)
    except serving.ServeError as exc:
        typer.echo(f"turnscore serve: {exc}", err=True)
        raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


serve.__signature__ = _serve_signature()  # type: ignore[attr-defined]
app.command("serve")(serve)
