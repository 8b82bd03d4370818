"""verl 0.9.1: ``train.parquet``, ``val.parquet`` and ``tool_config.yaml`` for the tool agent loop.

One row per record, the columns verl's ``RLHFDataset`` and agent loops read:

- ``prompt``: ``[system?, user]`` (the tools are not in it: the agent loop passes the sample's tool
  schemas to the chat template);
- ``data_source``: the record's ``source``; ``ability``: ``"tool_use"``;
- ``agent_name``: ``turnscore_tool_agent`` (the turnscore agent loop of ``turnscore_client.verl``);
- ``reward_model``: ``{"style": "rule", "ground_truth": <the gold, JSON>}`` (what the agent loop and
  ``turnscore_client.verl.reward.compute_score`` send as ``gold``);
- ``extra_info``: ``{"index", "id", "split", "tool_selection", "tools_kwargs"}``: ``tool_selection`` (the
  record's tool names) makes the tool agent loop offer this sample only its own tools out of
  ``tool_config.yaml``; ``tools_kwargs`` (``{tool: {"create_kwargs": {"record_id": id}}}``, stored as
  Arrow JSON so rows with different tools share one column) is what each tool's ``create`` receives.

``tool_config.yaml`` declares every tool of every record once, each a
``turnscore_client.verl.tools.RecordingTool`` (records the call, answers a fixed observation): the place to
plug real tools in (change a tool's ``class_name``). Two records giving different schemas under one name
get the first one (counted in the summary).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import _arrow
from .prompts import messages
from .records import Example
from .split import by_split

__all__ = ["AGENT_NAME", "RECORDING_TOOL", "write"]

AGENT_NAME = "turnscore_tool_agent"
RECORDING_TOOL = "turnscore_client.verl.tools.RecordingTool"
DEFAULT_OBSERVATION = '{"status": "ok"}'


def tool_config(examples: list[Example], observation: str = DEFAULT_OBSERVATION) -> tuple[str, list[str]]:
    """The ``tool_config.yaml`` text (JSON flow style, valid YAML) and the names declared twice with
    different schemas."""
    tools: dict[str, dict[str, Any]] = {}
    conflicts: list[str] = []
    for ex in examples:
        for tool in ex.tools:
            name = tool["function"]["name"]
            if name not in tools:
                tools[name] = tool
            elif tools[name] != tool and name not in conflicts:
                conflicts.append(name)
    lines = [
        "# verl tool config written by `turnscore prepare --for verl`: every tool of the gold records.",
        f"# {RECORDING_TOOL} records each call and answers a fixed observation, so a run needs no tool",
        "# backend. To run real tools, point a tool's class_name at your verl BaseTool subclass.",
        "tools:",
    ]
    for name in sorted(tools):
        entry = {
            "class_name": RECORDING_TOOL,
            "config": {"type": "native", "observation": observation},
            "tool_schema": tools[name],
        }
        lines.append("  - " + json.dumps(entry, ensure_ascii=True))
    return "\n".join(lines) + "\n", conflicts


def _columns(examples: list[Example], system: str | None) -> dict[str, Any]:
    pa = _arrow.pyarrow()
    prompts = [messages(ex.question, ex.tools, system, tools_in_prompt=False) for ex in examples]
    extra = pa.StructArray.from_arrays(
        [
            pa.array(list(range(len(examples))), type=pa.int64()),
            pa.array([ex.id for ex in examples], type=pa.string()),
            pa.array([ex.split for ex in examples], type=pa.string()),
            pa.array([ex.tool_names for ex in examples], type=pa.list_(pa.string())),
            _arrow.json_array(
                [{n: {"create_kwargs": {"record_id": ex.id}} for n in ex.tool_names} for ex in examples]
            ),
        ],
        names=["index", "id", "split", "tool_selection", "tools_kwargs"],
    )
    reward_model = pa.StructArray.from_arrays(
        [
            pa.array(["rule"] * len(examples), type=pa.string()),
            pa.array([ex.label for ex in examples], type=pa.string()),
        ],
        names=["style", "ground_truth"],
    )
    return {
        "data_source": pa.array([ex.source for ex in examples], type=pa.string()),
        "prompt": pa.array(prompts, type=_arrow.messages_type()),
        "ability": pa.array(["tool_use"] * len(examples), type=pa.string()),
        "agent_name": pa.array([AGENT_NAME] * len(examples), type=pa.string()),
        "reward_model": reward_model,
        "extra_info": extra,
    }


def write(examples: list[Example], out: Path, system: str | None) -> tuple[list[str], list[str]]:
    """Write the files into ``out``: (file names, notes for the summary)."""
    files = []
    for split, rows in by_split(examples):
        _arrow.write_parquet(_columns(rows, system), out / f"{split}.parquet")
        files.append(f"{split}.parquet")
    text, conflicts = tool_config(examples)
    (out / "tool_config.yaml").write_text(text, encoding="utf-8")
    files.append("tool_config.yaml")
    notes = []
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        notes.append(
            f"{len(conflicts)} tool names have different schemas in different records; tool_config.yaml "
            f"keeps the first of each ({shown})"
        )
    return files, notes
