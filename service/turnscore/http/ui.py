"""The inspect page and the inspect sample API.

- ``GET /ui``: the page (static HTML, CSS and JavaScript shipped in ``turnscore/http/ui/``; no build step, no
  CDN). ``GET /ui/<file>`` serves its files (a fixed list, read once). The page calls the service's own API
  (``/v1/presets``, ``/v1/score`` with ``explain: "matrix"``, ``/v1/inspect/samples``) with the API key the
  user types in; the files themselves are public while ``/ui`` is in ``public_paths`` (the default).
- ``GET /v1/inspect/samples``: this worker's sample ring (``--inspect-sample N``), newest first, no bodies;
  ``GET /v1/inspect/samples/{id}``: one sample with its request and response. 404 when sampling is off or
  the id is not (or no longer) in the ring. They need an API key like every API path.
"""

from __future__ import annotations

from importlib import resources

import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from turnscore.runtime import Runtime

from . import schemas

UI_PATH = "/ui"
SAMPLES_PATH = "/v1/inspect/samples"
#: request header with which the page's own scoring requests stay out of the sample ring
NO_SAMPLE_HEADER = "x-turnscore-sample"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}
_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
# the page talks to its own origin only: no inline script, no remote anything
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def ui_files() -> dict[str, bytes]:
    """Every file of the page by name (``index.html``, ``ui.js``, ``ui.css``, ``example.json``)."""
    folder = resources.files("turnscore.http") / "ui"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and "." + item.name.rpartition(".")[2] in _TYPES
    }


def _file(files: dict[str, bytes], name: str) -> Response:
    data = files.get(name)
    if data is None:
        raise HTTPException(404, f"no file {name!r} in the inspect page")
    media = _TYPES["." + name.rpartition(".")[2]]
    headers = dict(_HEADERS)
    if name == "index.html":
        headers["content-security-policy"] = _CSP
    return Response(data, media_type=media, headers=headers)


def sampling_requested(request: Request) -> bool:
    """Whether a scoring request may go to the sample ring (the page sends ``X-Turnscore-Sample: off``)."""
    return request.headers.get(NO_SAMPLE_HEADER, "").strip().lower() != "off"


def install_ui(app: FastAPI, runtime: Runtime) -> None:
    """Add the page, its files and the inspect sample API to ``app``."""
    files = ui_files()
    ring = runtime.samples

    @app.get(UI_PATH, include_in_schema=False)
    async def page() -> Response:
        return _file(files, "index.html")

    @app.get(UI_PATH + "/", include_in_schema=False)
    async def page_slash(request: Request) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + UI_PATH, status_code=307)

    @app.get(UI_PATH + "/{name}", include_in_schema=False)
    async def page_file(name: str) -> Response:
        return _file(files, name)

    def require_sampling() -> None:
        if not ring.enabled:
            raise HTTPException(
                404,
                "inspect sampling is off: start the service with --inspect-sample N "
                "(or TURNSCORE_INSPECT_SAMPLE=N)",
            )

    errors = schemas.error_responses(401, 404)

    @app.get(
        SAMPLES_PATH,
        response_model=schemas.InspectSamples,
        responses=errors,
        tags=["inspect"],
        summary="The last scored requests this worker kept (--inspect-sample N; 404 when off)",
    )
    async def samples() -> Response:
        require_sampling()
        return Response(orjson.dumps(ring.listing()), media_type="application/json")

    @app.get(
        SAMPLES_PATH + "/{sample_id}",
        response_model=schemas.InspectSample,
        responses=errors,
        tags=["inspect"],
        summary="One kept request with its response (404: sampling off, or not in this worker's ring)",
    )
    async def sample(sample_id: str) -> Response:
        require_sampling()
        found = ring.get(sample_id)
        if found is None:
            raise HTTPException(
                404,
                f"no sample {sample_id!r} in this worker's ring (evicted, or kept by another worker: "
                f"this is worker {ring.worker})",
            )
        return Response(found.to_json(), media_type="application/json")
