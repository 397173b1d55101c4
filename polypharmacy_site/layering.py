"""Which part of the project may import which: the layers, and a checker that reads the imports
with ``ast`` (no module is imported, so it runs in a fraction of a second with no database).

A module may import from its own layer or lower ones, never higher. Within a layer, apps may
use one another as long as no two apps, and no two files, import each other round in a circle.
An import placed inside a function must not cross apps: a function-level import hides a
dependency from the reader and from this checker's "who imports whom" (and it was how the
old cycles stayed out of sight). ``polypharmacy_site.tests.test_layering`` runs the checker;
``bin/architecture`` prints the layers into the README.

Tests, conftests and migrations are left out: tests may reach anywhere, and migrations are
history. The tools around the project (bench/, clients/, client/, validation/) sit above
the site and are not checked.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent

# The bandits package holds both pure numpy/torch algorithms (run by the workers, tested
# without Django) and the site's side of them (API, parameters, presenters): two layers.
BANDIT_ALGORITHMS = ("bandits.datasets", "bandits.optimneuralts", "bandits.baselines", "bandits.metrics",
                     "bandits.catalog_dataset", "bandits.screening", "bandits.runners", "bandits.training",
                     "bandits.combinations")


@dataclass(frozen=True)
class Layer:
    name: str
    units: tuple[str, ...]  # packages or modules; a module listed here wins over its package
    why: str
    django_free: bool = False  # imports nothing from Django or the libraries built on it


# Lowest first.
LAYERS: tuple[Layer, ...] = (
    Layer("environment", ("envcore",), "the RL environment: plain data in, plain data out", django_free=True),
    Layer("algorithms", ("fixtures", "agents") + BANDIT_ALGORITHMS,
          "agents, learners and bandit algorithms (numpy/torch), and the catalog builders", django_free=True),
    Layer("catalog and accounts", ("catalog", "accounts"), "the drug catalog in the database; roles and permissions"),
    Layer("episodes", ("episodes",), "episodes, their steps, the environment's HTTP, WebSocket and MCP APIs"),
    Layer("features", ("reviews", "jobs", "bandits"),
          "review pages and audit; queued jobs; the bandits' endpoints, parameters and pages"),
    Layer("site", ("polypharmacy_site",), "settings, URLs, the ASGI edge, the admin site, /health"),
)

# Imported by the layers marked django_free, these would drag Django in.
DJANGO_MODULES = ("django", "rest_framework", "channels", "celery", "drf_spectacular", "django_celery_results")
SKIPPED_DIRS = {"tests", "migrations", "__pycache__"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (resolved to a project module where it is one)
    line: int
    in_function: bool
    type_only: bool  # under ``if TYPE_CHECKING:``: never runs, so it cannot close a cycle


@dataclass
class Project:
    root: Path
    modules: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path = ROOT, layers: Iterable[Layer] = LAYERS) -> "Project":
        project = cls(root)
        packages = {unit.split(".")[0] for layer in layers for unit in layer.units}
        for package in sorted(packages):
            for path in sorted((root / package).rglob("*.py")):
                rel = path.relative_to(root)
                if SKIPPED_DIRS & set(rel.parts) or path.name == "conftest.py" or path.name.startswith("test_"):
                    continue
                parts = list(rel.with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                project.modules[".".join(parts)] = path
        return project

    def imports(self) -> Iterator[Import]:
        for module, path in self.modules.items():
            yield from _imports_of(module, path, self.modules)


def _imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    def resolve(name: str) -> str:
        # "from jobs import services" names the module jobs.services, not the package.
        parent = name.rpartition(".")[0]
        return name if name in known else parent if parent in known else name

    for name, line, in_function, type_only in _raw_imports(module, path.name == "__init__.py", path.read_text()):
        yield Import(module, resolve(name), line, in_function, type_only)


@functools.lru_cache(maxsize=4096)
def _raw_imports(module: str, is_package: bool, text: str) -> tuple[tuple[str, int, bool, bool], ...]:
    """(imported name, line, inside a function, under TYPE_CHECKING) for each name a module
    imports; cached by the file's text (the tests of the test scan the same files many times)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int, bool, bool]] = []

    def walk(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function, type_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                found.extend((f"{base}.{alias.name}", child.lineno, in_function, type_only) for alias in child.names)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                walk(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), in_function, type_only)
            else:
                walk(child, in_function, type_only)

    walk(ast.parse(text, module), False, False)
    return tuple(found)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _unit_of(module: str, layers: Iterable[Layer]) -> tuple[int, str] | None:
    """(layer index, unit) of the longest unit that contains ``module``; None outside the layers."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(layers):
        for unit in layer.units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    return best


def app_of(module: str) -> str:
    return module.split(".")[0]


def violations(project: Project, layers: tuple[Layer, ...] = LAYERS) -> list[str]:
    """Every broken rule, one line each (an empty list: the layering holds)."""
    found: list[str] = []
    edges: set[tuple[str, str]] = set()
    for imp in project.imports():
        where = f"{project.modules[imp.source].relative_to(project.root)}:{imp.line}"
        source, target = _unit_of(imp.source, layers), _unit_of(imp.target, layers)
        if source is None:
            continue
        if target is None:
            if layers[source[0]].django_free and imp.target.split(".")[0] in DJANGO_MODULES:
                found.append(f"{where}: {imp.source} ({layers[source[0]].name}) imports {imp.target}, "
                             "but its layer is free of Django")
            continue
        if target[0] > source[0]:
            found.append(f"{where}: {imp.source} ({layers[source[0]].name}) imports {imp.target} "
                         f"from a higher layer ({layers[target[0]].name})")
        if imp.in_function and app_of(imp.source) != app_of(imp.target):
            found.append(f"{where}: {imp.source} imports {imp.target} inside a function, across apps "
                         "(import it at the top of the module)")
        if imp.target in project.modules and imp.target != imp.source and not imp.type_only:
            edges.add((imp.source, imp.target))
    found += [f"import cycle between files: {' -> '.join(c)}" for c in cycles(edges)]
    apps = {(app_of(s), app_of(t)) for s, t in edges if app_of(s) != app_of(t)}
    found += [f"import cycle between apps: {' -> '.join(c)}" for c in cycles(apps)]
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The cycles of the graph, closed (the first node repeated at the end): within each strongly
    connected component of more than one node (Tarjan's algorithm, iteratively), the shortest
    cycle through each of its nodes, without repeats, so every import that must go is named."""
    graph: dict[str, list[str]] = {}
    for s, t in sorted(edges):
        graph.setdefault(s, []).append(t)
        graph.setdefault(t, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    found: list[list[str]] = []
    for component in components:
        for node in component:
            cycle = _a_cycle_in(set(component), graph, node)
            rotated = min(cycle[i:-1] + cycle[:i] + [cycle[i]] for i in range(len(cycle) - 1))
            if rotated not in found:
                found.append(rotated)
    return found


def _a_cycle_in(component: set[str], graph: dict[str, list[str]], start: str) -> list[str]:
    """A shortest closed path through ``start`` (breadth first) within its component."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in graph[node]:
                if child == start:
                    path = [node]  # back from the node that closes the circle to the start
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if child in component and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return sorted(component)


def architecture_block(layers: tuple[Layer, ...] = LAYERS) -> str:
    """The README's architecture block: the layers, highest first."""
    lines = []
    for layer in reversed(layers):
        packages: dict[str, list[str]] = {}  # bandits.datasets, bandits.metrics → bandits.{datasets, metrics}
        for unit in layer.units:
            package, _, rest = unit.partition(".")
            packages.setdefault(package, []).extend([rest] if rest else [])
        units = [f"{p}.{{{', '.join(rest)}}}" if rest else p for p, rest in packages.items()]
        lines.append(f"{layer.name:<22} {', '.join(units)}")
        lines.append(f"{'':<22}   {layer.why}" + ("; no Django" if layer.django_free else ""))
    return "\n".join(lines)
