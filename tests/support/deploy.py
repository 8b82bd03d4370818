"""Helpers for the deployment checks (tests/deploy): repository paths, the service's settings as a container
reads them, a Dockerfile reader and the ``.dockerignore`` matcher."""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "docker" / "compose.yaml"
DASHBOARD = REPO / "docker" / "grafana" / "dashboards" / "turnscore.json"
K8S = REPO / "k8s"

#: the Kubernetes version every rendered object is validated against (kubernetes-validate schemas)
KUBERNETES_VERSION = "1.33.0"


def settings_from_env(env: dict[str, str]) -> Any:
    """``Settings()`` read from exactly ``env`` (as the process in the container would read it)."""
    from unittest import mock

    from turnscore.settings import Settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TURNSCORE_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        return Settings()


# -- Dockerfile -------------------------------------------------------------------------------------


@dataclass
class Instruction:
    op: str  # upper case: FROM, RUN, ...
    args: str  # the rest of the (joined) line

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (``CMD ["a", "b"]``), else None."""
        text = self.args
        for flag in ("CMD ",):  # HEALTHCHECK [options] CMD [...]
            if flag in text and self.op == "HEALTHCHECK":
                text = text.split(flag, 1)[1]
        text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        return [str(v) for v in value] if isinstance(value, list) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile (continuations joined, comments dropped)."""
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        lines.append(buf + stripped)
        buf = ""
    if buf:
        lines.append(buf)
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        op, _, args = line.partition(" ")
        op = op.upper()
        args = args.strip()
        if op == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            if op == "ARG":
                k, _, v = args.partition("=")
                global_args[k] = v
        else:
            stages[-1].instructions.append(Instruction(op, args))
    return global_args, stages


def stage_env(stage: Stage) -> dict[str, str]:
    """``ENV k=v ...`` of a stage (quoted values unquoted)."""
    env: dict[str, str] = {}
    for ins in stage.all("ENV"):
        for token in shlex.split(ins.args):
            k, sep, v = token.partition("=")
            if not sep:
                raise ValueError(f"ENV without `=` is not used here: {ins.args!r}")
            env[k] = v
    return env


def stage_args(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for ins in stage.all("ARG"):
        k, _, v = ins.args.partition("=")
        out[k] = v
    return out


def run_mounts(ins: Instruction) -> tuple[list[str], str]:
    """``RUN --mount=... cmd``: the mount specs and the command."""
    mounts: list[str] = []
    rest = ins.args
    while rest.startswith("--mount="):
        spec, _, rest = rest.partition(" ")
        mounts.append(spec[len("--mount=") :])
        rest = rest.lstrip()
    return mounts, rest


# -- .dockerignore ----------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                out = out[:-2] + "(?:.*/)?"
                i += 1
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_filter(patterns_text: str) -> Any:
    """A predicate ``included(relpath)`` with Docker's rules: patterns in order, the last one matching the
    path or one of its parent directories decides, ``!`` re-includes."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in patterns_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = os.path.normpath(line.lstrip("!")).lstrip("/")
        rules.append((negate, _pattern_regex(line)))

    # literal prefixes of the `!` patterns: an excluded directory outside all of them holds nothing included
    reincluded = [
        re.split(r"[*?\[]", raw.strip().lstrip("!").strip("/"))[0]
        for raw in patterns_text.splitlines()
        if raw.strip().startswith("!")
    ]

    def included(rel: str) -> bool:
        parts = rel.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        keep = True
        for negate, rx in rules:
            if any(rx.match(c) for c in candidates):
                keep = negate
        return keep

    def may_hold_included(rel_dir: str) -> bool:
        if included(rel_dir):
            return True
        return any(p.startswith(rel_dir + "/") or p == rel_dir or rel_dir.startswith(p) for p in reincluded)

    included.may_hold_included = may_hold_included  # type: ignore[attr-defined]
    return included


def build_context(root: Path, included: Any) -> list[str]:
    """Relative paths of the files Docker would send as build context."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        prune = getattr(included, "may_hold_included", None)
        dirnames[:] = [
            d for d in dirnames if prune is None or prune(d if rel_dir == "." else f"{rel_dir}/{d}")
        ]
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if included(rel):
                out.append(rel)
    return sorted(out)
