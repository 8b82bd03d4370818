"""Finding 9: bytes that are not a valid protobuf get INVALID_ARGUMENT with no Python internals."""

from __future__ import annotations

import grpc
import pytest

from tests.support.serve import ServiceFactory

GARBAGE = [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x08" + b"\x80" * 20, b"\x12\x05ab"]


def test_malformed_message_is_invalid_argument(service_factory: ServiceFactory) -> None:
    svc = service_factory("--grpc-drain-delay", "0", grpc=True)
    with grpc.insecure_channel(svc.target) as channel:
        calls = [
            (data, channel.unary_unary(f"/turnscore.v1.RewardService/{method}"))  # raw bytes in and out
            for method in ("Score", "Advantages", "Presets")
            for data in GARBAGE
        ]
        for data, call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call(data, timeout=10)
            err = info.value
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (data, err.code(), err.details())
            details = err.details() or ""
            for leak in ("Error", "Exception", "Traceback", "google.protobuf", ".py"):
                assert leak not in details, details
            trailers = dict(err.trailing_metadata() or ())
            assert trailers.get("turnscore-error-code") == "malformed_message"
        # the server still answers well-formed calls
        presets = channel.unary_unary("/turnscore.v1.RewardService/Presets")
        assert len(presets(b"", timeout=10)) > 0
