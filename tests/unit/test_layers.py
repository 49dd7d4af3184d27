"""The layers import in one direction: entry points (command line, web pages, Prefect flows) only
translate to and from the application layer, and none of them uses another entry point's helpers.
A helper two entry points need lives in ``dosing.app`` (or the core), once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


#: (folder, packages it may not import, why)
RULES = [
    ("dosing/app", ("dosing.cli", "dosing.web", "flows"), "the application layer serves every entry point"),
    ("dosing/store", ("dosing.cli", "dosing.web", "dosing.app", "flows"), "the store is an adapter"),
    ("dosing/exchange", ("dosing.cli", "dosing.web", "flows"), "exports are adapters"),
    ("dosing/pharmacy", ("dosing.cli", "dosing.web", "flows"), "the pharmacy core is pure"),
    ("calendars", ("dosing.cli", "dosing.web", "flows"), "calendars are an adapter"),
    ("dosing/web", ("dosing.cli", "flows"), "the web pages are an entry point"),
    ("flows", ("dosing.cli", "dosing.web"), "the flows are an entry point"),
]


@pytest.mark.parametrize(("folder", "forbidden", "why"), RULES, ids=[rule[0] for rule in RULES])
def test_no_module_imports_across_the_layers(folder: str, forbidden: tuple[str, ...], why: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(folder)
        if "migrations" not in path.parts
        for name in sorted(_imported(path))
        if any(_under(name, package) for package in forbidden)
    ]
    assert crossings == [], f"{why}: " + "; ".join(crossings)


def test_the_core_modules_import_no_entry_point_and_no_store() -> None:
    core = [
        path for path in (ROOT / "dosing").glob("*.py") if path.name not in {"__main__.py", "settings.py"}
    ]
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in core
        for name in sorted(_imported(path))
        if any(_under(name, package) for package in ("dosing.cli", "dosing.web", "dosing.store", "flows"))
    ]
    assert crossings == [], "; ".join(crossings)
