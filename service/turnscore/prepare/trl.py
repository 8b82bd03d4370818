"""TRL: a ``datasets`` folder, ``train.parquet`` and ``val.parquet`` (``load_dataset(DIR)``: the splits
``train`` and ``validation``).

Columns: ``prompt`` (conversational: ``[system, user]``), ``gold`` (the gold, JSON string: the default
``gold_column`` of ``turnscore_client.trl.TurnScoreReward``), ``tools`` (the record's OpenAI tool schemas,
an Arrow JSON column read back as a list of objects), ``id`` and ``source``.

GRPOTrainer (TRL 1.16) renders only its own ``tools=`` callables into the chat template, not a per-example
column (its SFT, DPO, KTO and reward trainers read ``tools``; GRPOTrainer passes the column to the reward
functions only), so the system message carries the tool schemas and the call format
(:func:`turnscore.prepare.prompts.tools_block`), as for OpenRLHF.
"""

from __future__ import annotations

from pathlib import Path

from . import _arrow
from .prompts import messages
from .records import Example
from .split import by_split

__all__ = ["GOLD_COLUMN", "write"]

GOLD_COLUMN = "gold"


def write(examples: list[Example], out: Path, system: str | None) -> tuple[list[str], list[str]]:
    pa = _arrow.pyarrow()
    files = []
    for split, rows in by_split(examples):
        columns = {
            "prompt": pa.array(
                [messages(ex.question, ex.tools, system, tools_in_prompt=True) for ex in rows],
                type=_arrow.messages_type(),
            ),
            GOLD_COLUMN: pa.array([ex.label for ex in rows], type=pa.string()),
            "tools": _arrow.json_array([ex.tools for ex in rows]),
            "id": pa.array([ex.id for ex in rows], type=pa.string()),
            "source": pa.array([ex.source for ex in rows], type=pa.string()),
        }
        _arrow.write_parquet(columns, out / f"{split}.parquet")
        files.append(f"{split}.parquet")
    return files, []
