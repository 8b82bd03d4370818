"""``turnscore prepare`` as a subprocess, for every suite (the trainer environments have no service
installed: ``$TURNSCORE_BIN`` names the main environment's ``turnscore``).

Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.gold import tools_catalog

__all__ = ["prepare", "turnscore_command", "write_records"]


def turnscore_command() -> list[str]:
    """``$TURNSCORE_BIN``, else this environment's ``turnscore`` script, else ``python -m turnscore``."""
    exe = os.environ.get("TURNSCORE_BIN")
    if exe:
        return [exe]
    script = Path(sys.executable).with_name("turnscore")
    return [str(script)] if script.exists() else [sys.executable, "-m", "turnscore"]


def write_records(records: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def prepare(
    trainer: str, inputs: list[Path], out: Path, *options: str, sample: bool = False, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``turnscore prepare --for TRAINER INPUTS -o OUT --no-progress --tools-catalog <the gold set's>
    *options``; with ``check`` a non-zero exit raises with the command's stderr."""
    cmd = [
        *turnscore_command(),
        "prepare",
        "--for",
        trainer,
        *map(str, inputs),
        "-o",
        str(out),
        "--no-progress",
        "--tools-catalog",
        str(tools_catalog(sample)),
        *options,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return proc
