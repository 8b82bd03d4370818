"""slime: ``train.jsonl`` and ``val.jsonl`` in its sample format.

Each line: ``{"prompt": [system, user], "label": <the gold, JSON string>, "tools": <the tool schemas, JSON
string>, "metadata": {"id", "source"}}``, read with ``--input-key prompt --label-key label --tool-key tools
--apply-chat-template`` (slime passes the tools to the chat template; ``metadata`` is its default
``--metadata-key``). ``sample.label`` is what ``turnscore_client.slime.group_rm`` sends as the gold (slime
reads the label column as a string).
"""

from __future__ import annotations

import json
from pathlib import Path

from ._jsonl import write_jsonl
from .prompts import messages
from .records import Example
from .split import by_split

__all__ = ["INPUT_KEY", "LABEL_KEY", "TOOL_KEY", "write"]

INPUT_KEY = "prompt"
LABEL_KEY = "label"
TOOL_KEY = "tools"


def write(examples: list[Example], out: Path, system: str | None) -> tuple[list[str], list[str]]:
    files = []
    for split, rows_in in by_split(examples):
        rows = (
            {
                INPUT_KEY: messages(ex.question, ex.tools, system, tools_in_prompt=False),
                LABEL_KEY: ex.label,
                TOOL_KEY: json.dumps(ex.tools, ensure_ascii=False),
                "metadata": {"id": ex.id, "source": ex.source},
            }
            for ex in rows_in
        )
        write_jsonl(rows, out / f"{split}.jsonl")
        files.append(f"{split}.jsonl")
    return files, []
