"""Command line: ``turnscore serve`` (HTTP service) and ``turnscore score`` (added by the core engineer).

``serve`` has one flag per field of :class:`turnscore.config.Settings` (``--redis-url`` for ``redis_url``,
...), generated from the settings model, so a field added there (e.g. ``grpc_port``) is a flag at once.
Every flag falls back to its environment variable ``TURNSCORE_<FIELD>``; flags win over env vars.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import signal
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import typer

from turnscore.config import Settings

app = typer.Typer(
    name="turnscore",
    help="Turn-level rewards and dual-level advantages for RL on tool use.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    """turnscore: MatchTIR turn-level rewards as a service."""


@app.command("score")
def score(
    input_path: str = typer.Argument(
        ..., metavar="IN.jsonl", help="One /v1/score request per line ('-': stdin)."
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
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Score a JSONL file offline with the same core as the service."""
    from turnscore.offline import run

    code = run(
        input_path, output, preset=preset, config_json=config, step=step, explain=explain, progress=progress
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


def _export_env(settings: Settings, overrides: dict[str, Any]) -> None:
    """Flags given on the command line become env vars, so uvicorn workers (spawned) see them too."""
    for name in overrides:
        value = getattr(settings, name)
        env = f"TURNSCORE_{name.upper()}"
        if value is None:
            os.environ.pop(env, None)
        elif isinstance(value, bool):
            os.environ[env] = "true" if value else "false"
        else:
            os.environ[env] = str(value)


def serve(**kwargs: Any) -> None:
    """Run the HTTP service (uvicorn; --workers N processes share nothing but Redis and metrics),
    with --grpc-port also gRPC in the same processes (--no-http: gRPC alone)."""
    import uvicorn
    from pydantic import ValidationError

    from turnscore.http.logs import log_config

    overrides = {k: v for k, v in kwargs.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        typer.echo(f"invalid settings:\n{exc}", err=True)
        raise typer.Exit(2) from None
    _export_env(settings, overrides)
    if not settings.http:  # --no-http: gRPC alone (settings validation guarantees a --grpc-port)
        from turnscore.grpc.server import run_alone

        run_alone(settings)
        return
    # with --grpc-port, every worker's app also serves gRPC (turnscore.grpc.server.create_app)
    factory = (
        "turnscore.grpc.server:create_app"
        if settings.grpc_port is not None
        else "turnscore.http.app:create_app"
    )

    prom_dir: str | None = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prom_dir = tempfile.mkdtemp(prefix="turnscore-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    # uvicorn shuts down gracefully on SIGTERM, restores the previous handler and re-raises the signal;
    # with the default handler that would end the process with status 143. A no-op handler here makes
    # a graceful SIGTERM shutdown exit 0 (uvicorn installs its own handlers while it serves).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn.run(
            factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=log_config(settings.log_level),
            log_level=settings.log_level,
            access_log=False,  # turnscore writes its own structured access log
            timeout_graceful_shutdown=max(1, math.ceil(settings.graceful_timeout)),
            timeout_keep_alive=max(1, math.ceil(settings.keepalive_timeout)),
            root_path=settings.root_path,
            server_header=False,
        )
    except KeyboardInterrupt:  # Ctrl-C: uvicorn already shut down gracefully and re-raised SIGINT
        raise typer.Exit(130) from None
    finally:
        if prom_dir is not None:
            shutil.rmtree(prom_dir, ignore_errors=True)
    sys.stdout.flush()


serve.__signature__ = _serve_signature()  # type: ignore[attr-defined]
app.command("serve")(serve)
