"""Generate the Python code of ``proto/turnscore/v1/turnscore.proto`` (needs ``grpcio-tools``, a dev extra).

The generated modules are committed twice, byte for byte the same: in ``turnscore.grpc._gen`` (the server)
and ``turnscore_client._gen`` (the client, which must work without the service package). Both register the
same file ``turnscore/v1/turnscore.proto`` in the protobuf descriptor pool, which accepts an identical
duplicate, so the two copies can live in one process. ``tests/grpc/test_grpc_codegen.py`` fails when the
committed code is stale. Regenerate with::

    .venv/bin/python -m turnscore.grpc.codegen
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROTO_ROOT = REPO / "proto"
PROTO = "turnscore/v1/turnscore.proto"
TARGETS = (REPO / "service/turnscore/grpc/_gen", REPO / "client/turnscore_client/_gen")
FILES = ("__init__.py", "turnscore.proto", "turnscore_pb2.py", "turnscore_pb2.pyi", "turnscore_pb2_grpc.py")

_INIT = '"""Generated from proto/turnscore/v1/turnscore.proto by turnscore.grpc.codegen. Do not edit."""\n'
_IMPORT = re.compile(r"^from turnscore\.v1 import turnscore_pb2 as ", re.M)


def generate(proto_root: Path = PROTO_ROOT) -> dict[str, bytes]:
    """The generated files (name -> content), produced with ``grpc_tools.protoc`` in a temp dir."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="turnscore-protoc-") as tmp:
        include = Path(protoc.__file__).parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            str(proto_root / PROTO),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(args)}")
        out = Path(tmp) / "turnscore" / "v1"
        grpc_code = (out / "turnscore_pb2_grpc.py").read_text(encoding="utf-8")
        grpc_code, n = _IMPORT.subn("from . import turnscore_pb2 as ", grpc_code)
        if n != 1:
            raise RuntimeError("unexpected import layout in turnscore_pb2_grpc.py")
        return {
            "__init__.py": _INIT.encode(),
            "turnscore.proto": (proto_root / PROTO).read_bytes(),
            "turnscore_pb2.py": (out / "turnscore_pb2.py").read_bytes(),
            "turnscore_pb2.pyi": (out / "turnscore_pb2.pyi").read_bytes(),
            "turnscore_pb2_grpc.py": grpc_code.encode(),
        }


def stale(targets: tuple[Path, ...] = TARGETS) -> list[str]:
    """Committed generated files that differ from a fresh generation (empty = up to date)."""
    fresh = generate()
    bad = []
    for target in targets:
        for name, content in fresh.items():
            path = target / name
            if not path.is_file() or path.read_bytes() != content:
                bad.append(str(path))
    return bad


def write(targets: tuple[Path, ...] = TARGETS) -> None:
    fresh = generate()
    for target in targets:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, content in fresh.items():
            (target / name).write_bytes(content)


def main() -> int:
    write()
    for target in TARGETS:
        print(f"generated {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
