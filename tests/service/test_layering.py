"""The package layering, read from the import statements of the source files (``ast``, nothing imported).

- ``turnscore.core`` imports nothing of turnscore outside the core (it is the pure scoring library);
- ``turnscore.runtime`` (shared by every transport) imports no transport;
- the transports ``turnscore.http`` and ``turnscore.grpc`` never import each other: ``turnscore.serve``
  puts them together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "service" / "turnscore"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), at any place in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return found


def sources(subpackage: str) -> list[Path]:
    root = PACKAGE / subpackage
    return sorted(p for p in root.rglob("*.py") if "_gen" not in p.parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(subpackage: str, forbidden: list[str]) -> list[str]:
    return [
        f"{module_name(path)} imports {module}"
        for path in sources(subpackage)
        for module in sorted(imports(path))
        if any(within(module, f) for f in forbidden)
    ]


def test_the_import_reader_sees_relative_and_lazy_imports() -> None:
    assert "turnscore.grpc.convert" in imports(PACKAGE / "grpc" / "server.py")  # `from . import convert`
    assert "turnscore.runtime.decode" in imports(PACKAGE / "runtime" / "runtime.py")  # `from .decode ...`
    assert "turnscore.grpc.server" in imports(PACKAGE / "serve.py")  # imported inside functions


@pytest.mark.parametrize(
    ("subpackage", "forbidden"),
    [
        ("runtime", ["turnscore.http", "turnscore.grpc", "turnscore.serve", "turnscore.cli"]),
        ("http", ["turnscore.grpc", "turnscore.serve", "turnscore.cli"]),
        ("grpc", ["turnscore.http", "turnscore.serve", "turnscore.cli"]),
    ],
)
def test_transports_and_runtime(subpackage: str, forbidden: list[str]) -> None:
    assert sources(subpackage), subpackage
    assert violations(subpackage, forbidden) == []


def test_core_imports_only_the_core() -> None:
    outside = [
        f"{module_name(path)} imports {module}"
        for path in sources("core")
        for module in sorted(imports(path))
        if within(module, "turnscore") and not within(module, "turnscore.core")
    ]
    assert sources("core") and outside == []
