"""The committed generated code matches the proto (regenerated with grpc_tools.protoc into a temp dir)."""

from __future__ import annotations

import shutil
from pathlib import Path

from turnscore.grpc import codegen


def test_generated_code_is_up_to_date() -> None:
    stale = codegen.stale()
    assert not stale, f"stale generated code {stale}: run `.venv/bin/python -m turnscore.grpc.codegen`"


def test_staleness_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "_gen"
    shutil.copytree(codegen.TARGETS[0], copy)
    assert codegen.stale((copy,)) == []
    pb2 = copy / "turnscore_pb2.py"
    pb2.write_bytes(pb2.read_bytes().replace(b"turnscore.v1", b"turnscore.v0", 1))
    (copy / "turnscore_pb2.pyi").unlink()
    assert sorted(Path(p).name for p in codegen.stale((copy,))) == ["turnscore_pb2.py", "turnscore_pb2.pyi"]


def test_both_copies_identical_and_service_in_descriptor() -> None:
    for name in codegen.FILES:
        assert (codegen.TARGETS[0] / name).read_bytes() == (codegen.TARGETS[1] / name).read_bytes()
    from turnscore.grpc._gen import turnscore_pb2 as server_pb
    from turnscore_client._gen import turnscore_pb2 as client_pb

    assert server_pb.DESCRIPTOR is client_pb.DESCRIPTOR  # one file in the pool, shared by both copies
    service = server_pb.DESCRIPTOR.services_by_name["RewardService"]
    assert [m.name for m in service.methods] == ["Score", "Advantages", "Presets"]
