"""Error kinds over HTTP: one status per kind (``HTTP_STATUS``), the statuses and codes of the wire."""

from __future__ import annotations

import orjson
import pytest
from turnscore.core.errors import (
    ConfigError,
    ErrorKind,
    InvalidRequest,
    LimitExceeded,
    TurnScoreError,
    UnknownGoldRef,
    UnknownPreset,
)
from turnscore.http.errors import HTTP_STATUS, error_headers, error_response, http_status
from turnscore.runtime.errors import ServiceError, internal, overloaded, unauthenticated

ERRORS: list[tuple[TurnScoreError, int, str]] = [
    (InvalidRequest("groups[0]", "bad"), 422, "invalid_request"),
    (ConfigError("gamma", "must be in [0, 1]"), 422, "invalid_config"),
    (UnknownPreset("nope", ["matchtir-km"]), 422, "unknown_preset"),
    (UnknownGoldRef(["sha256:" + "0" * 64]), 409, "unknown_gold_ref"),
    (LimitExceeded("max_groups", 2, "groups", 3), 413, "limit_exceeded"),
    (ServiceError(ErrorKind.BAD_REQUEST, "malformed_json", "not JSON"), 400, "malformed_json"),
    (
        ServiceError(ErrorKind.UNSUPPORTED_ENCODING, "unsupported_media_type", "br"),
        415,
        "unsupported_media_type",
    ),
    (ServiceError(ErrorKind.DEADLINE_EXCEEDED, "request_timeout", "slow body"), 408, "request_timeout"),
    (overloaded(4, 3), 503, "overloaded"),
    (unauthenticated("`Authorization: Bearer <key>`"), 401, "unauthorized"),
    (internal("a bug"), 500, "internal_error"),
]


def test_every_kind_has_one_http_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind)
    assert {kind.value for kind in ErrorKind} == {
        "invalid",
        "bad_request",
        "unsupported_encoding",
        "unknown_gold_ref",
        "too_large",
        "overloaded",
        "unauthenticated",
        "deadline_exceeded",
        "internal",
    }


@pytest.mark.parametrize(("error", "status", "code"), ERRORS, ids=[e[2] for e in ERRORS])
def test_status_code_and_body(error: TurnScoreError, status: int, code: str) -> None:
    assert http_status(error) == status and error.code == code
    response = error_response(error)
    assert response.status_code == status
    assert orjson.loads(response.body) == {
        "error": {"code": code, "message": error.message, "details": error.details}
    }


def test_retry_after_only_on_overload() -> None:
    assert error_headers(overloaded(4, 3)) == {"retry-after": "3"}
    assert error_response(overloaded(4, 3)).headers["retry-after"] == "3"
    assert overloaded(4, 3).details == {"limit": "max_inflight", "max": 4}
    assert all(error_headers(e) == {} for e, status, _ in ERRORS if status != 503)
