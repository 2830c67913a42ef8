"""The layout DESIGN.md draws ("Where things live"), checked on the source tree: what may sit at the
top of dialer/, nothing imports the composition root `cli`, modules stay within 300 lines, no
import circles, and scheduler/ stays pure. Imports are read with `ast`, at every depth (inside
functions and `if TYPE_CHECKING:` blocks too) plus `importlib.import_module("...")` calls with a
literal name; nothing is imported to check it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_TREES = ("dialer", "scheduler", "prompts", "agi_scripts")
GRAPH_TREES = ("dialer", "scheduler", "prompts")
TOP_FILES = {"__init__.py", "domain.py", "config.py"}
MAX_LINES = 300


def _files(trees: tuple[str, ...]) -> list[Path]:
    return sorted(p for tree in trees for p in (ROOT / tree).rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    """dialer/engine/call.py -> dialer.engine.call; dialer/engine/__init__.py -> dialer.engine."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) for every import in the file; relative imports made absolute."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base, tuple(alias.name for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
            yield node.lineno, node.args[0].value, ()


def _is_under(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def _offenders(trees: tuple[str, ...], top: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _files(trees)
        for line, name, _ in _imported(path)
        if _is_under(name, top)
    ]


def test_top_of_dialer_holds_only_packages_domain_and_config() -> None:
    stray = []
    for entry in sorted((ROOT / "dialer").iterdir()):
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        if entry.is_dir() and not (entry / "__init__.py").is_file():
            stray.append(f"{entry.name}/ (a folder that is not a package)")
        elif entry.is_file() and entry.name not in TOP_FILES:
            stray.append(entry.name)
    assert not stray, f"dialer/ may hold only packages and {sorted(TOP_FILES)} at its top; found {stray}"


def test_nothing_imports_the_composition_root() -> None:
    assert (ROOT / "cli.py").is_file()
    found = _offenders(CODE_TREES, "cli")
    assert not found, "cli.py is the composition root and nothing imports it:\n" + "\n".join(found)


def test_modules_stay_within_300_lines() -> None:
    files = _files(CODE_TREES)
    assert len(files) > 100  # the scan sees the tree
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in files}
    long = [f"{p.relative_to(ROOT)}: {n}" for p, n in sizes.items() if n > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split by what each part owns):\n" + "\n".join(long)


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of GRAPH_TREES it imports. `from pkg import name` counts as importing
    pkg.name when that is a module, else pkg (its __init__). `import a.b.c` counts as a.b.c only:
    the parent packages Python runs first are already loading when a module inside imports them."""
    paths = {_module(p): p for p in _files(GRAPH_TREES)}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for _, target, names in _imported(path):
            hits = [f"{target}.{n}" for n in names if f"{target}.{n}" in paths]
            if len(hits) < len(names) or not names:
                hits.append(target)
            graph[name].update(h for h in hits if h in paths and h != name)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif nxt not in index:
                index[nxt] = low[nxt] = len(index)
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(sorted(graph[nxt]))))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
    return groups


def test_circle_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    graph = _graph()
    assert sum(map(len, graph.values())) > 200  # the scan sees the imports
    assert "dialer.runtime.metrics" in graph["dialer.storage.worker"]
    circles = _circles(graph)
    shown = "\n".join(" <-> ".join(group) for group in circles)
    assert not circles, f"import circles (no two modules import each other, even through others):\n{shown}"


def test_scheduler_imports_nothing_of_dialer() -> None:
    found = _offenders(("scheduler",), "dialer")
    assert not found, "scheduler/ is pure and imports nothing of dialer:\n" + "\n".join(found)


def test_leaves_import_nothing_of_the_dialer() -> None:
    """domain.py and runtime/ sit under every layer (storage counts into runtime.metrics)."""
    leaves = (ROOT / "dialer" / "domain.py", *sorted((ROOT / "dialer" / "runtime").glob("*.py")))
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in leaves
        for line, name, _ in _imported(path)
        if _is_under(name, "dialer") and not _is_under(name, "dialer.runtime")
    ]
    assert len(leaves) >= 3 and not found, "leaves import nothing of the dialer:\n" + "\n".join(found)
