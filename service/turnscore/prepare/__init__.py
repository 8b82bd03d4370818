"""``turnscore prepare``: gold-data records to the files a trainer reads (verl, OpenRLHF, TRL, slime).

One module per trainer (``verl``, ``openrlhf``, ``trl``, ``slime``), each a ``write(examples, folder,
system_prompt)``; the records are read once (:mod:`.records`, the gold checked by the core), their tool
schemas normalized (:mod:`.tools`), split (:mod:`.split`) and given a prompt (:mod:`.prompts`).
docs/recipes.md shows each trainer's command line from the written files.
"""

from __future__ import annotations

from .run import TRAINERS, run

__all__ = ["TRAINERS", "run"]
