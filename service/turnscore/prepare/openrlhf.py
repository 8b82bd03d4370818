"""OpenRLHF 0.11.2: ``train.jsonl`` and ``val.jsonl`` for its prompt dataset.

Each line: ``{"prompt": [system, user], "label": <the gold, JSON string>, "datasource": <source>}``, read with
``--data.input_key prompt --data.label_key label --data.apply_chat_template``. OpenRLHF's chat template call
passes no tools, so the system message carries them (:func:`turnscore.prepare.prompts.tools_block`). The label
is what turnscore's ``/v1/openrlhf`` endpoint and ``turnscore_client.openrlhf.reward_func`` read (a JSON
string: ``datasets`` would turn nested objects into structs that add every other row's keys as null);
``datasource`` is the key OpenRLHF groups its metrics by.
"""

from __future__ import annotations

from pathlib import Path

from ._jsonl import write_jsonl
from .prompts import messages
from .records import Example
from .split import by_split

__all__ = ["INPUT_KEY", "LABEL_KEY", "write"]

INPUT_KEY = "prompt"
LABEL_KEY = "label"


def write(examples: list[Example], out: Path, system: str | None) -> tuple[list[str], list[str]]:
    files = []
    for split, rows_in in by_split(examples):
        rows = (
            {
                INPUT_KEY: messages(ex.question, ex.tools, system, tools_in_prompt=True),
                LABEL_KEY: ex.label,
                "datasource": ex.source,
            }
            for ex in rows_in
        )
        write_jsonl(rows, out / f"{split}.jsonl")
        files.append(f"{split}.jsonl")
    return files, []
