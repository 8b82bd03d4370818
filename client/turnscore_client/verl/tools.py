"""``RecordingTool``: a verl tool that records each call and answers a fixed observation.

``turnscore prepare --for verl`` declares every tool of the gold records in ``tool_config.yaml`` with this
class, so verl's tool agent loop runs with no tool backend: the model's calls are what turnscore scores,
and a fixed observation (``config.observation``, default ``{"status": "ok"}``) lets the rollout go on. It is
the place to plug real tools in: give a tool's ``class_name`` your own ``verl.tools.base_tool.BaseTool``
subclass (same ``tool_schema``); ``extra_info.tools_kwargs[tool].create_kwargs`` of each sample reaches its
``create``.

Each call is appended to ``agent_data.extra_fields["turnscore_tool_calls"]`` of the rollout (name,
arguments, record id) and kept per instance until ``release``.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

__all__ = ["DEFAULT_OBSERVATION", "EXTRA_CALLS", "RecordingTool"]

DEFAULT_OBSERVATION = '{"status": "ok"}'
EXTRA_CALLS = "turnscore_tool_calls"


class RecordingTool(BaseTool):  # type: ignore[misc]
    """Records the call, returns ``config["observation"]``, reward 0."""

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema) -> None:
        # BaseTool.__init__ prints the whole schema: thousands of lines for a gold set's tools
        self.config = config
        self.tool_schema = tool_schema or self.get_openai_tool_schema()
        if self.tool_schema is None:
            raise ValueError("RecordingTool needs a tool_schema")
        self.name = self.tool_schema.function.name
        self.observation = str(config.get("observation", DEFAULT_OBSERVATION))
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.record_ids: dict[str, Any] = {}

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        instance_id = instance_id or str(uuid4())
        create_kwargs = kwargs.get("create_kwargs") or {}
        self.calls[instance_id] = []
        self.record_ids[instance_id] = create_kwargs.get("record_id")
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        call = {"name": self.name, "arguments": parameters, "record_id": self.record_ids.get(instance_id)}
        self.calls.setdefault(instance_id, []).append(call)
        agent_data = kwargs.get("agent_data")
        extra = getattr(agent_data, "extra_fields", None)
        if isinstance(extra, dict):
            extra.setdefault(EXTRA_CALLS, []).append(call)
        return ToolResponse(text=self.observation), 0.0, {}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        return 0.0

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self.calls.pop(instance_id, None)
        self.record_ids.pop(instance_id, None)
