"""Hatchling build hook of both packages: the turnscore.v1 code, generated into the package being built.

Configured in each ``pyproject.toml`` (the service's, and ``client/pyproject.toml`` through
``client/hatch_build.py``) with the option ``out``: the generated package's directory, relative to the
project root. It runs for wheel, sdist and editable builds; git ignores the generated files, so each
``pyproject.toml`` lists them as ``artifacts``. ``grpcio-tools`` comes from ``[build-system].requires``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _generator() -> ModuleType:
    """``generate.py`` beside this file (loaded by path: the build does not put it on ``sys.path``)."""
    path = Path(__file__).resolve().with_name("generate.py")
    spec = importlib.util.spec_from_file_location("turnscore_proto_generate", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ProtoBuildHook(BuildHookInterface):
    """Writes the generated package to ``<project root>/<out>`` before each build."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        out = self.config.get("out")
        if not isinstance(out, str) or not out:
            raise ValueError("the proto build hook needs the option `out`: the generated package's directory")
        _generator().write((Path(self.root) / out,))
        self.app.display_debug(f"generated {out} from proto/turnscore/v1/turnscore.proto")
