"""The shape of the package: no import cycle between modules or between packages, no module over 500
lines, no function over 60 lines.

Imports are read with `ast` from every module under speechchurn/, including imports inside functions
(the lazy heavy imports) and under `if TYPE_CHECKING:`, so a cycle cannot hide in a function body.
For the package check each `speechchurn/X/` package and each top-level module is one node (a floor
of the house): a package may import only from floors below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "speechchurn"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60  # body lines: from the first statement after the docstring to the end
EXEMPT_MODULES: frozenset[str] = frozenset()  # generated or data modules only (there are none)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The speechchurn module an imported dotted name lives in (longest known prefix)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(module: str, path: Path) -> set[str]:
    """speechchurn modules that `module` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, path).split(".")
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            names = [n for n in names if _resolve(n) != _resolve(base)] or [base]
        else:
            continue
        found.update(r for n in names if (r := _resolve(n)) is not None and r != module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module, path) for module, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _is_package_reexport(module: str, target: str) -> bool:
    """A package __init__ importing its own submodules (cli/__init__ registering commands) is no cycle."""
    return MODULES[module].name == "__init__.py" and target.startswith(module + ".")


def test_finder_sees_a_cycle_and_function_level_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    pipeline = imports_of("speechchurn.batch.pipeline", MODULES["speechchurn.batch.pipeline"])
    assert "speechchurn.text.lexicon" in pipeline  # imported inside analyze()


def test_no_import_cycle():
    graph = {
        m: {t for t in targets if not _is_package_reexport(m, t)} for m, targets in import_graph().items()
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def package_of(module: str) -> str | None:
    """The floor a module belongs to: its `speechchurn/X/` package, or the top-level module itself
    (None for the root package `speechchurn` itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        source = package_of(module)
        if source is None:
            continue
        graph.setdefault(source, set())
        graph[source] |= {p for t in targets if (p := package_of(t)) not in (None, source)}
    return graph


def test_package_finder_sees_packages_and_top_level_modules():
    graph = package_graph()
    assert package_of("speechchurn.batch.store") == "batch"
    assert package_of("speechchurn.grading_run") == "grading_run"
    assert "batch" in graph["grading_run"] and "review" in graph["app"]


def test_no_package_import_loop():
    graph = package_graph()
    assert find_cycle(graph) is None, "package loop: " + " -> ".join(find_cycle(graph))


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("call", "asr"),  # decode and VAD below transcription; recording.py sits above both
        ("batch", "outcomes"),
        ("batch", "grading_run"),
        ("customers", "outcomes"),
        ("labels", "outcomes"),
        ("report", "outcomes"),
        ("review", "app"),
        ("review", "grading_run"),
        ("grading_run", "app"),
        ("grading_run", "analyze"),
    ],
)
def test_floor_does_not_import_upward(lower, upper):
    assert upper not in package_graph()[lower], f"{lower} imports {upper}, a floor above it"


def documented_floors() -> dict[str, int]:
    """Room -> floor from the floor table of docs/architecture.md (`| 3 | `batch/`, `labels.py` | ...`)."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    floors = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            for room in cells[1].split(","):
                floors[room.strip().strip("`").removesuffix("/").removesuffix(".py")] = int(cells[0])
    return floors


def test_every_import_goes_down_the_documented_floors():
    floors = documented_floors()
    graph = package_graph()
    assert set(graph) <= set(floors), f"rooms missing from docs/architecture.md: {set(graph) - set(floors)}"
    upward = [
        f"{a} (floor {floors[a]}) -> {b} (floor {floors[b]})"
        for a, targets in graph.items()
        for b in targets
        if floors[b] > floors[a] or (floors[b] == floors[a] and floors[a] > 0)
    ]
    assert upward == []


def test_batch_flows_one_way():
    graph = import_graph()
    assert "speechchurn.batch.pipeline" not in graph["speechchurn.batch.executors"]
    assert "speechchurn.batch.pipeline" not in graph["speechchurn.batch.worker"]
    assert "speechchurn.batch.executors" not in graph["speechchurn.batch.worker"]


@pytest.mark.parametrize("module", sorted(set(MODULES) - EXEMPT_MODULES))
def test_module_size(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[module]}: {lines} lines > {MAX_MODULE_LINES}"


def _long_functions(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring does not count
        lines = node.end_lineno - body[0].lineno + 1
        if lines > MAX_FUNCTION_LINES:
            out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}() {lines} lines")
    return out


@pytest.mark.parametrize("module", sorted(set(MODULES) - EXEMPT_MODULES))
def test_function_size(module):
    assert _long_functions(MODULES[module]) == []
