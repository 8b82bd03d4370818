"""Error kinds over gRPC: one status code per kind (``GRPC_STATUS``), the error body in trailing metadata."""

from __future__ import annotations

import grpc
import orjson
import pytest
from turnscore.core.errors import ErrorKind, InvalidRequest, LimitExceeded, TurnScoreError, UnknownGoldRef
from turnscore.grpc.status import CODE_KEY, ERROR_KEY, GRPC_STATUS, for_error
from turnscore.runtime.errors import ServiceError, internal, overloaded, unauthenticated

S = grpc.StatusCode
ERRORS: list[tuple[TurnScoreError, grpc.StatusCode]] = [
    (InvalidRequest("groups[0]", "bad"), S.INVALID_ARGUMENT),
    (ServiceError(ErrorKind.BAD_REQUEST, "malformed_json", "config: not valid JSON"), S.INVALID_ARGUMENT),
    (UnknownGoldRef(["sha256:" + "0" * 64]), S.FAILED_PRECONDITION),
    (LimitExceeded("max_groups", 2, "groups", 3), S.RESOURCE_EXHAUSTED),
    (overloaded(4, 3), S.RESOURCE_EXHAUSTED),
    (unauthenticated("metadata `authorization: Bearer <key>`"), S.UNAUTHENTICATED),
    (ServiceError(ErrorKind.DEADLINE_EXCEEDED, "deadline_exceeded", "too late"), S.DEADLINE_EXCEEDED),
    (internal("a bug"), S.INTERNAL),
]


def test_every_kind_has_one_grpc_status() -> None:
    assert set(GRPC_STATUS) == set(ErrorKind)


@pytest.mark.parametrize(("error", "status"), ERRORS, ids=[e[0].code for e in ERRORS])
def test_status_and_trailers(error: TurnScoreError, status: grpc.StatusCode) -> None:
    code, message, trailers = for_error(error)
    assert code == status and message == error.message
    metadata = dict(trailers)
    assert metadata[CODE_KEY] == error.code
    assert orjson.loads(metadata[ERROR_KEY]) == error.to_dict()
    assert ("retry-after" in metadata) == (error.kind is ErrorKind.OVERLOADED)


def test_overload_carries_retry_after() -> None:
    assert dict(for_error(overloaded(4, 3))[2])["retry-after"] == "3"
