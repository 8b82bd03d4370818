"""Tool schemas of gold records, in the one shape every trainer reads: OpenAI's function tool.

``{"type": "function", "function": {"name", "description", "parameters": {"type": "object",
"properties": {...}, "required": [...]}}}``. The gold sets write schemas several ways; each is read here:

- OpenAI's shape (tau-bench): kept, its parameter types normalized;
- ``{"name", "description", "parameters"}`` (BFCL, API-Bank, ToolRL): Python type names (``str``, ``int``,
  ``dict``, ``tuple`` ...) become JSON Schema types, ``"any"`` every JSON type;
- ``{"name", "description", "arguments": {param: {"description", "required", "allowed_values"}}}``
  (NESTFUL): ``required`` flags become the ``required`` list, ``allowed_values`` an ``enum``, the type
  ``string`` (NESTFUL gives none);
- a bare name (tau2-bench's catalog): a tool without parameters.

Every parameter gets a ``type`` (verl's schema model requires one). A record whose ``tools`` is null names
its schemas in ``meta.tools_ref`` (``{"file", "keys", "exclude_functions"}``: the catalog beside the gold
file); :func:`record_tools` resolves them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Catalogs", "openai_tool", "record_tools"]

_ANY = ["string", "number", "integer", "boolean", "object", "array", "null"]
_TYPES = {
    "str": "string",
    "string": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "double": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "dict": "object",
    "object": "object",
    "list": "array",
    "array": "array",
    "tuple": "array",
    "null": "null",
}


def _json_type(raw: Any) -> str | list[str]:
    if isinstance(raw, list):
        out = [t for t in (_json_type(x) for x in raw) if isinstance(t, str)]
        return out or "string"
    if not isinstance(raw, str):
        return "string"
    low = raw.strip().lower()
    if low == "any":
        return list(_ANY)
    return _TYPES.get(low, "string")


def _property(raw: Any) -> dict[str, Any]:
    """One parameter schema with JSON Schema types (nested ``items`` / ``properties`` too)."""
    if not isinstance(raw, Mapping):
        return {"type": "string"}
    out: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("type", "items", "properties")}
    out["type"] = _json_type(raw.get("type"))
    if isinstance(raw.get("items"), Mapping):
        out["items"] = _property(raw["items"])
    if isinstance(raw.get("properties"), Mapping):
        out["properties"] = {str(k): _property(v) for k, v in raw["properties"].items()}
    return out


def _parameters(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {"type": "object", "properties": {}, "required": []}
    props = raw.get("properties")
    required = raw.get("required")
    return {
        "type": "object",
        "properties": {str(k): _property(v) for k, v in props.items()} if isinstance(props, Mapping) else {},
        "required": [str(r) for r in required] if isinstance(required, list) else [],
    }


def _nestful_parameters(arguments: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in arguments.items():
        spec = spec if isinstance(spec, Mapping) else {}
        prop: dict[str, Any] = {"type": _json_type(spec.get("type"))}
        if spec.get("description"):
            prop["description"] = str(spec["description"])
        if spec.get("allowed_values"):
            prop["enum"] = list(spec["allowed_values"])
        props[str(name)] = prop
        if spec.get("required"):
            required.append(str(name))
    return {"type": "object", "properties": props, "required": required}


def openai_tool(schema: Any) -> dict[str, Any]:
    """The OpenAI function-tool form of one tool schema of a gold record (``ValueError`` if unreadable)."""
    if isinstance(schema, str) and schema:
        return {
            "type": "function",
            "function": {"name": schema, "description": "", "parameters": _parameters(None)},
        }
    if not isinstance(schema, Mapping):
        raise ValueError(f"expected a tool schema object or a tool name, got {type(schema).__name__}")
    fn = schema.get("function") if schema.get("type") == "function" else schema
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ValueError("a tool schema needs a non-empty string `name`")
    if isinstance(fn.get("arguments"), Mapping) and "parameters" not in fn:
        params = _nestful_parameters(fn["arguments"])
    else:
        params = _parameters(fn.get("parameters"))
    return {
        "type": "function",
        "function": {
            "name": fn["name"],
            "description": str(fn.get("description") or ""),
            "parameters": params,
        },
    }


class Catalogs:
    """Tool catalogs (``tools_catalog.json``) read once each, by resolved path."""

    def __init__(self, override: Path | None = None) -> None:
        self.override = override
        self._loaded: dict[Path, dict[str, Any]] = {}

    def get(self, gold_file: Path, name: str) -> dict[str, Any]:
        path = (self.override or gold_file.parent / name).resolve()
        if path not in self._loaded:
            if not path.is_file():
                raise ValueError(
                    f"meta.tools_ref names {name}, not found at {path} (give it with --tools-catalog)"
                )
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a JSON object of tool lists")
            self._loaded[path] = data
        return self._loaded[path]


def record_tools(record: Mapping[str, Any], gold_file: Path, catalogs: Catalogs) -> list[dict[str, Any]]:
    """The record's tools in OpenAI form: its ``tools``, else those ``meta.tools_ref`` names (ValueError with
    the field when neither is readable)."""
    raw = record.get("tools")
    if raw is None:
        meta = record.get("meta")
        ref = meta.get("tools_ref") if isinstance(meta, Mapping) else None
        if not isinstance(ref, Mapping):
            raise ValueError(
                "tools: null and no meta.tools_ref naming a catalog (the record offers no tools)"
            )
        catalog = catalogs.get(gold_file, str(ref.get("file") or "tools_catalog.json"))
        exclude = set(ref.get("exclude_functions") or ())
        raw = []
        for key in ref.get("keys") or ():
            if key not in catalog:
                raise ValueError(f"meta.tools_ref.keys: {key!r} is not in the tool catalog")
            raw.extend(catalog[key])
        raw = [t for t in raw if _name(t) not in exclude]
    if not isinstance(raw, list):
        raise ValueError(f"tools: expected a list of tool schemas, got {type(raw).__name__}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, schema in enumerate(raw):
        try:
            tool = openai_tool(schema)
        except ValueError as exc:
            raise ValueError(f"tools[{i}]: {exc}") from None
        name = tool["function"]["name"]
        if name not in seen:  # a repeated name would be one tool to every trainer: keep the first
            seen.add(name)
            out.append(tool)
    return out


def _name(schema: Any) -> str | None:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, Mapping):
        fn = schema.get("function") if schema.get("type") == "function" else schema
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return str(fn["name"])
    return None
