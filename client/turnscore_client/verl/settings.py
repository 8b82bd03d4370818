"""The ``turnscore_*`` keys of verl's ``algorithm`` config node (``+algorithm.turnscore_<key>=...``).

One reader for the agent loop (rewards) and the estimator (advantages), so both use the same preset and
overrides. Transport keys:

- ``turnscore_url``: service URL(s), comma-separated (default: env ``TURNSCORE_URL``).
- ``turnscore_backend``: ``auto`` (default), ``local`` (in-process core; needs the ``turnscore`` package),
  ``http`` (the service at ``turnscore_url``). ``auto``: the estimator runs the core in-process when it is
  installed, else calls the service; the agent loop calls the service when a URL is set, else runs locally.
- ``turnscore_api_key`` (default: env ``TURNSCORE_API_KEY``), ``turnscore_timeout`` (seconds).
- ``turnscore_on_mismatch``: ``fill`` (default) or ``raise``, for the token layout (see ``tokens``).

Scoring keys: ``turnscore_preset`` (default ``matchtir-km``), ``turnscore_config`` (an object of overrides),
and every other ``turnscore_<key>`` is the override ``<key>`` of SCORING.md / API.md ``config`` (for
example ``turnscore_gamma``, ``turnscore_combine``, ``turnscore_unmatched_penalty``). Unknown keys are
rejected by the service (422 / ``ConfigError``), never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from .. import settings as env

__all__ = ["PREFIX", "Settings"]

PREFIX = "turnscore_"
TRANSPORT_KEYS = ("url", "backend", "api_key", "timeout", "on_mismatch", "preset", "config")
BACKENDS = ("auto", "local", "http")


def plain(value: Any) -> Any:
    """OmegaConf containers (and mappings/sequences) to plain dicts/lists, recursively."""
    if hasattr(value, "_content") or type(value).__name__ in ("DictConfig", "ListConfig"):
        try:
            from omegaconf import OmegaConf

            return OmegaConf.to_container(value, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf always comes with verl
            pass
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _items(node: Any) -> list[tuple[str, Any]]:
    if node is None:
        return []
    if hasattr(node, "items") and callable(node.items):
        return [(str(k), v) for k, v in node.items()]
    if is_dataclass(node) and not isinstance(node, type):
        return [(f.name, getattr(node, f.name)) for f in fields(node)]
    return [(k, v) for k, v in vars(node).items() if not k.startswith("_")]


@dataclass(frozen=True)
class Settings:
    preset: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    backend: str = "auto"
    api_key: str | None = None
    timeout: float = 60.0
    on_mismatch: str = "fill"

    @classmethod
    def from_node(cls, node: Any) -> Settings:
        """Read every ``turnscore_*`` key of a config node (DictConfig, dataclass, dict or None)."""
        found = {k[len(PREFIX) :]: plain(v) for k, v in _items(node) if k.startswith(PREFIX)}
        return cls.from_dict(found)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Settings:
        overrides = dict(d.get("config") or {})
        if not isinstance(overrides, dict):
            raise ValueError("turnscore_config must be an object of overrides")
        for k, v in d.items():
            if k not in TRANSPORT_KEYS:
                overrides[k] = v
        url = d.get("url") or env.URL.get() or ""
        urls = tuple(u.strip() for u in (url if isinstance(url, list) else str(url).split(",")) if u.strip())
        backend = str(d.get("backend") or "auto")
        if backend not in BACKENDS:
            raise ValueError(f"turnscore_backend must be one of {BACKENDS}, got {backend!r}")
        on_mismatch = str(d.get("on_mismatch") or "fill")
        if on_mismatch not in ("fill", "raise"):
            raise ValueError(f"turnscore_on_mismatch must be 'fill' or 'raise', got {on_mismatch!r}")
        if backend == "http" and not urls:
            raise ValueError("turnscore_backend=http needs turnscore_url (or env TURNSCORE_URL)")
        return cls(
            preset=d.get("preset"),
            config=overrides,
            urls=urls,
            backend=backend,
            api_key=d.get("api_key") or None,
            timeout=float(d.get("timeout") or 60.0),
            on_mismatch=on_mismatch,
        )

    def use_local(self, *, prefer_local: bool) -> bool:
        """Whether to run the core in-process (``prefer_local``: the estimator's ``auto`` choice)."""
        if self.backend != "auto":
            return self.backend == "local"
        from ..transports.local import local_available

        if prefer_local:
            return local_available() or not self.urls
        return not self.urls

    def client_kwargs(self) -> dict[str, Any]:
        return {"api_key": self.api_key, "timeout": self.timeout}
