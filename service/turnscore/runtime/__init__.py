"""The transport-neutral runtime: what every transport of a process shares.

- :mod:`.runtime`  :class:`Runtime` (gold cache, admission, API keys, scoring pool, status, heap freeze)
- :mod:`.decode`   JSON documents within the nesting-depth limit
- :mod:`.errors`   :class:`ServiceError`, the errors the service raises itself (kinds, not statuses)
- :mod:`.logs`     structured (JSON lines) logging
"""

from __future__ import annotations

from .errors import ServiceError
from .runtime import Runtime

__all__ = ["Runtime", "ServiceError"]
