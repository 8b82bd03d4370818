"""Both packages build as wheels (``python -m build --wheel --no-isolation``: offline, with the build
requirements of the dev extra, hatchling and grpcio-tools, in this environment) with the metadata a clone's
install relies on: ``turnscore-client[local]`` requires ``turnscore`` (so ``pip install . './client[local]'``
resolves it from the service's path), the generated gRPC code and the package data in each wheel, the
entry points (the ``turnscore`` command, verl's plugin)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("hatchling", reason="hatchling (dev extra) builds the wheels without network access")
pytest.importorskip("build", reason="build (dev extra) is the build frontend")


def build_wheel(project: Path, out: Path) -> zipfile.ZipFile:
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(project)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def metadata(whl: zipfile.ZipFile) -> tuple[dict[str, list[str]], str]:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    msg = Parser().parsestr(whl.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in msg.items():
        fields.setdefault(key, []).append(value.replace("'", '"'))  # backends differ in marker quotes
    entry = next(n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))
    return fields, whl.read(entry).decode()


def test_service_wheel(tmp_path: Path) -> None:
    whl = build_wheel(ROOT, tmp_path)
    names = set(whl.namelist())
    for path in (
        "turnscore/grpc/_gen/turnscore_pb2.py",
        "turnscore/grpc/_gen/turnscore_pb2_grpc.py",
        "turnscore/py.typed",
        "turnscore/prepare/verl.py",
        "turnscore/cli.py",
    ):
        assert path in names, path
    assert not any(n.startswith(("tests/", "client/")) for n in names)
    fields, entry_points = metadata(whl)
    assert fields["Name"] == ["turnscore"]
    assert "prepare" in fields["Provides-Extra"] and "grpc" in fields["Provides-Extra"]
    assert any(r.startswith("pyarrow") and 'extra == "prepare"' in r for r in fields["Requires-Dist"])
    assert "turnscore = turnscore.cli:app" in entry_points


def test_client_wheel(tmp_path: Path) -> None:
    whl = build_wheel(ROOT / "client", tmp_path)
    names = set(whl.namelist())
    for path in (
        "turnscore_client/_gen/turnscore_pb2.py",
        "turnscore_client/_gen/turnscore_pb2_grpc.py",
        "turnscore_client/py.typed",
        "turnscore_client/verl/tools.py",
    ):
        assert path in names, path
    fields, entry_points = metadata(whl)
    assert fields["Name"] == ["turnscore-client"]
    requires = fields["Requires-Dist"]
    # [local] names the service by its distribution name: pip takes it from `.` in the same command
    assert 'turnscore; extra == "local"' in requires, requires
    assert any(r.startswith("verl") and 'extra == "verl"' in r for r in requires)
    assert "[verl.plugins]" in entry_points and "turnscore = turnscore_client.verl" in entry_points
