"""Generate the Python code of ``turnscore/v1/turnscore.proto`` (``grpc_tools.protoc``, grpcio-tools 1.85.1).

The proto beside this script is the only source; its generated code is never committed. It goes into two
packages, byte for byte the same: ``turnscore.grpc._gen`` (the service) and ``turnscore_client._gen`` (the
client, which works without the service package). Both register the file ``turnscore/v1/turnscore.proto``
in the protobuf descriptor pool, which accepts an identical duplicate, so both can live in one process.

Run by the build hook of each package (``hatch_build.py`` here: wheel, sdist and editable builds) and by
``make proto``, which regenerates both packages of this checkout::

    .venv/bin/python proto/generate.py

``tests/grpc/test_grpc_codegen.py`` fails when the imported generated code differs from a fresh generation.
Only the standard library is imported at module level (``grpc_tools`` when generating).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO = "turnscore/v1/turnscore.proto"
GRPCIO_TOOLS = "1.85.1"  # the output changes with the version: pinned wherever the code is generated
# The two generated packages of a checkout (``make proto``); a build hook writes only its own package.
TARGETS = (
    PROTO_ROOT.parent / "service/turnscore/grpc/_gen",
    PROTO_ROOT.parent / "client/turnscore_client/_gen",
)
FILES = ("__init__.py", "turnscore.proto", "turnscore_pb2.py", "turnscore_pb2.pyi", "turnscore_pb2_grpc.py")

_INIT = '"""Generated from proto/turnscore/v1/turnscore.proto by proto/generate.py. Do not edit."""\n'
_IMPORT = re.compile(r"^from turnscore\.v1 import turnscore_pb2 as ", re.M)


def generate(proto_root: Path = PROTO_ROOT) -> dict[str, bytes]:
    """The generated files (name -> content), produced with ``grpc_tools.protoc`` in a temp dir."""
    installed = metadata.version("grpcio-tools")
    if installed != GRPCIO_TOOLS:
        raise RuntimeError(f"grpcio-tools=={GRPCIO_TOOLS} is needed (the output depends on it): {installed}")
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
        # the package is not ``turnscore.v1`` but wherever the files land: a relative import
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
    """Files of ``targets`` that differ from a fresh generation or are missing (empty = up to date)."""
    fresh = generate()
    return [
        str(target / name)
        for target in targets
        for name, content in fresh.items()
        if not (target / name).is_file() or (target / name).read_bytes() != content
    ]


def write(targets: tuple[Path, ...] = TARGETS) -> None:
    """Replace each target directory by a fresh generation."""
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
        print(f"generated {target.relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
