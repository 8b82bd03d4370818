"""Build hook of turnscore-client: ``proto/hatch_build.py`` of the repository (``../proto``), or of the sdist
(``proto/``, put there by the sdist's ``force-include``). Generates ``turnscore_client/_gen``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def get_build_hook() -> Any:
    for proto_dir in (_HERE / "proto", _HERE.parent / "proto"):
        path = proto_dir / "hatch_build.py"
        spec = importlib.util.spec_from_file_location("turnscore_proto_hatch_build", path)
        if path.is_file() and spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.ProtoBuildHook
    raise FileNotFoundError(f"proto/hatch_build.py: neither in {_HERE} (sdist) nor in {_HERE.parent}")
