"""The imported generated code is what ``proto/generate.py`` makes of the proto now (protoc into a temp dir),
and both packages are set up to generate it at build time."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
STALE_HINT = "run `make proto`, or reinstall the packages (`pip install -e ./client -e .`)"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("turnscore_proto_generate", REPO / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def _imported_gen_dirs() -> tuple[Path, Path]:
    """The directories the generated packages are imported from (source tree or site-packages)."""
    dirs = []
    for name in ("turnscore.grpc._gen", "turnscore_client._gen"):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            pytest.fail(f"{name} is missing ({exc}): {STALE_HINT}")
        assert module.__file__ is not None
        dirs.append(Path(module.__file__).parent)
    return dirs[0], dirs[1]


def test_generated_code_is_up_to_date() -> None:
    stale = generate.stale(_imported_gen_dirs())
    assert not stale, f"generated code differs from proto/turnscore/v1/turnscore.proto: {stale}; {STALE_HINT}"


def test_staleness_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "_gen"
    shutil.copytree(_imported_gen_dirs()[0], copy)
    assert generate.stale((copy,)) == []
    pb2 = copy / "turnscore_pb2.py"
    pb2.write_bytes(pb2.read_bytes().replace(b"turnscore.v1", b"turnscore.v0", 1))
    (copy / "turnscore_pb2.pyi").unlink()
    assert sorted(Path(p).name for p in generate.stale((copy,))) == ["turnscore_pb2.py", "turnscore_pb2.pyi"]


def test_both_copies_identical_and_service_in_descriptor() -> None:
    server_dir, client_dir = _imported_gen_dirs()
    for name in generate.FILES:
        assert (server_dir / name).read_bytes() == (client_dir / name).read_bytes()
    from turnscore.grpc._gen import turnscore_pb2 as server_pb
    from turnscore_client._gen import turnscore_pb2 as client_pb

    assert server_pb.DESCRIPTOR is client_pb.DESCRIPTOR  # one file in the pool, shared by both copies
    service = server_pb.DESCRIPTOR.services_by_name["RewardService"]
    assert [m.name for m in service.methods] == ["Score", "Advantages", "Presets"]


def test_both_packages_generate_at_build_time() -> None:
    """Each pyproject runs the hook into its generated package and ships it although git ignores it; the
    build and the dev extra pin grpcio-tools as the generator does."""
    pin = f"grpcio-tools=={generate.GRPCIO_TOOLS}"
    for project, target in (
        (REPO, generate.TARGETS[0]),
        (REPO / "client", generate.TARGETS[1]),
    ):
        config = tomllib.loads((project / "pyproject.toml").read_text())
        assert pin in config["build-system"]["requires"]
        build = config["tool"]["hatch"]["build"]
        out = build["hooks"]["custom"]["out"]
        assert project / out == target
        assert build["artifacts"] == [f"/{out}/"]
        hook = project / build["hooks"]["custom"].get("path", "hatch_build.py")
        assert hook.is_file()
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert pin in dev
    ignored = (REPO / ".gitignore").read_text().splitlines()
    for target in generate.TARGETS:
        assert f"/{target.relative_to(REPO)}/" in ignored
