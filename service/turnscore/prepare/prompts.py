"""The chat prompt of an example: an optional system message and the record's ``question`` as the user turn.

Two ways the tools reach the model:

- through the chat template (verl's tool agent loop, slime's ``--tool-key``): the trainer passes the tool
  schemas as ``tools=`` to ``apply_chat_template``, which renders them in the template's own format; the
  system message is only the instruction;
- in the system message (OpenRLHF's prompt dataset, TRL's GRPOTrainer: neither passes per-example tools to
  the chat template): the instruction, then the schemas (one JSON object a line between ``<tools>`` tags)
  and how to call them: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, the format turnscore's
  presets parse by default.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DEFAULT_SYSTEM_PROMPT", "messages", "tools_block"]

DEFAULT_SYSTEM_PROMPT = (
    "You are an assistant that completes the user's request with the tools you are given. "
    "Call a tool whenever the request needs one, with the arguments the request states; "
    "call none when no tool fits or a required argument is missing, and say why."
)


def tools_block(tools: list[dict[str, Any]]) -> str:
    """The tool schemas and the call format, as text for a system message."""
    lines = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    return (
        "# Tools\n\n"
        "You may call the functions below (JSON schemas, one a line):\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "Write each call as a JSON object with the keys name and arguments between <tool_call> and "
        "</tool_call> tags, one block per call:\n"
        '<tool_call>\n{"name": "<function name>", "arguments": {"<parameter>": <value>}}\n</tool_call>'
    )


def messages(
    question: str, tools: list[dict[str, Any]], system: str | None, *, tools_in_prompt: bool
) -> list[dict[str, str]]:
    """``[system?, user]``: the system message is ``system`` (empty or None: none) followed, with
    ``tools_in_prompt``, by :func:`tools_block` (when the record has tools)."""
    parts = [system.strip()] if system and system.strip() else []
    if tools_in_prompt and tools:
        parts.append(tools_block(tools))
    out = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    out.append({"role": "user", "content": question})
    return out
