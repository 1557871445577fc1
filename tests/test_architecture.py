"""The package layout keeps its promise: every import in qa/ points down the layers, and none goes round in a
cycle. Imports inside functions and under TYPE_CHECKING count too: a cycle there is still a cycle to a reader."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "qa"

# Lowest first. A module may import its own package and any package of a lower layer; packages that share a
# layer (eval, serve) do not import each other.
LAYERS = [("errors",), ("settings",), ("models",), ("ingest",), ("retrieve",), ("index",), ("answer",), ("library",),
          ("eval", "serve"), ("cli",)]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The qa modules ``name`` imports, anywhere in its file; ``from qa.x import y`` names qa.x.y if that is a
    module, else qa.x."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "qa":
            assert node.module is not None
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def layer_of(name: str) -> tuple[str, int] | None:
    """The top-level part of qa a module belongs to and its layer (None for ``qa`` itself and ``qa.__main__``,
    which sit above everything)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[1] == "__main__":
        return None
    if parts[1] not in LAYER:
        raise AssertionError(f"{name} is in no layer: add its package to LAYERS in {__file__}")
    return parts[1], LAYER[parts[1]]


def test_every_import_points_down_the_layers():
    upward = []
    for name, targets in GRAPH.items():
        mine = layer_of(name)
        for target in targets:
            theirs = layer_of(target)
            if mine is None or mine[0] == (theirs or ("",))[0]:
                continue
            if theirs is None or theirs[1] >= mine[1]:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that do not point to a lower layer:\n" + "\n".join(sorted(upward))


def test_no_module_imports_itself_back():
    cycles, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_top_level_is_a_handful_of_entries_besides_the_packages():
    loose = sorted(p.name for p in ROOT.iterdir() if p.suffix == ".py")
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
    assert len(loose) <= 10, loose
    assert set(packages) == {name for names in LAYERS for name in names if (ROOT / name).is_dir()}


@pytest.mark.parametrize("package", sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()))
def test_each_package_says_what_it_holds_and_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text())) or ""
    assert "May import" in doc, f"qa/{package}/__init__.py should say what it holds and what it may import"


def test_the_checks_see_an_upward_import_and_a_cycle():
    """The walk itself works: the real graph holds known downward edges, and a made-up upward one is caught."""
    assert "qa.retrieve.passages" in GRAPH["qa.index.index"]
    assert layer_of("qa.retrieve.ranking")[1] < layer_of("qa.answer.assistant")[1]
    assert layer_of("qa.serve.api")[1] == layer_of("qa.eval.evaluation")[1]
