"""The import contract: layers import only downward, nothing imports in a circle, and the heavy
third-party packages stay in the layers that need them.

Every ``import`` in every module counts: at module level, inside functions (the lazy imports
that keep builds light) and under ``if TYPE_CHECKING:`` (a type-only import of a higher layer is
still a dependency in the wrong direction). The modules are read with :mod:`ast`, not imported.

    hatch/ (glue), cli/ ─► publish/, download/, index/ ─► sign/, verify/, gitlab/, pypi/ ─► basics
    gitlab/, pypi/ ─► _net/ (their shared HTTP plumbing) ─► basics
    sandbox/ (stand-ins) ─► basics; only cli/ and tests import it
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "hatch_sigstore"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# layer -> the layers it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "basics": frozenset(),
    "sign": frozenset({"basics"}),
    "verify": frozenset({"basics"}),
    "_net": frozenset({"basics"}),
    "gitlab": frozenset({"_net", "basics"}),
    "pypi": frozenset({"_net", "basics"}),
    "publish": frozenset({"sign", "verify", "gitlab", "pypi", "basics"}),
    "download": frozenset({"verify", "gitlab", "pypi", "basics"}),
    "index": frozenset({"download", "verify", "gitlab", "pypi", "basics"}),
    "hatch": frozenset({"publish", "download", "sign", "verify", "gitlab", "pypi", "basics"}),
    "cli": frozenset(
        {"publish", "download", "index", "sign", "verify", "gitlab", "pypi", "basics", "sandbox"}
    ),
    "sandbox": frozenset({"basics"}),
    "api": frozenset(
        {
            "hatch",
            "cli",
            "publish",
            "download",
            "index",
            "sign",
            "verify",
            "gitlab",
            "pypi",
            "basics",
        }
    ),
}
SUBPACKAGES = (
    "hatch", "cli", "publish", "download", "index", "sign", "verify", "gitlab", "pypi", "_net",
    "sandbox",
)  # fmt: skip
# third-party packages only some layers may import: (packages, the layers allowed)
SIGSTORE = frozenset({"sigstore", "sigstore_models", "pypi_attestations", "cryptography"})
THIRD_PARTY: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    # only the signing and verification layers (and trust.py, see below) touch sigstore
    (SIGSTORE | {"requests", "pydantic"}, frozenset({"sign", "verify", "sandbox"})),
    # only the registry clients and their shared plumbing
    (frozenset({"httpx"}), frozenset({"gitlab", "pypi", "_net", "sandbox"})),
    (frozenset({"hatch", "hatchling", "rich"}), frozenset({"hatch", "sandbox"})),  # hatch is glue
)
# basics modules that may import a package the table keeps from basics, and why
THIRD_PARTY_EXCEPTIONS = {
    ("trust", "sigstore"): "loads the trust root (lazily)",
}


@cache
def modules() -> dict[str, Path]:
    """``sign._session`` → its file; the package's own ``__init__`` is ``""``."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str:
    if module in ("", "__main__"):
        return "api" if module == "" else "cli"
    head = module.split(".", maxsplit=1)[0]
    return head if head in SUBPACKAGES else "basics"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules()[module].name == "__init__.py"
    base = module.split(".") if module else []
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def imports(module: str) -> tuple[tuple[str, int], ...]:
    """Every name ``module`` imports, as ``(dotted name, line)``; ours without the prefix."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                # `from pkg import submodule` imports the submodule, not the package's face
                ours = full.removeprefix(f"{PACKAGE}.")
                out.append((full if ours in modules() else base, node.lineno))
    return tuple(out)


def internal_edges() -> Iterator[tuple[str, str, int]]:
    for module in modules():
        for name, line in imports(module):
            if name == PACKAGE:
                yield module, "", line
            elif name.startswith(f"{PACKAGE}."):
                target = name.removeprefix(f"{PACKAGE}.")
                while target not in modules():  # `from pkg.mod import name` → pkg.mod
                    target = target.rpartition(".")[0]
                yield module, target, line


def test_the_graph_is_read() -> None:
    """The checks below look at a real graph (a broken parser would pass them vacuously)."""
    edges = {(a, b) for a, b, _ in internal_edges()}
    assert ("sign._session", "sign._explain") in edges  # `from pkg import submodule`
    assert ("hatch.build_hook", "hatch._build_signing") in edges  # a lazy import
    assert ("verify.policy", "verify._certificate") in edges  # TYPE_CHECKING and lazy
    assert ("publish.run", "gitlab") in edges  # a package's face
    assert len(modules()) > 60


def test_layers_import_only_downward() -> None:
    wrong = [
        f"{source} ({layer_of(source)}) imports {target or PACKAGE} ({layer_of(target)}), "
        f"line {line}"
        for source, target, line in internal_edges()
        if layer_of(target) != layer_of(source)
        and layer_of(target) not in ALLOWED[layer_of(source)]
    ]
    assert not wrong, "\n".join(wrong)


def _cycles() -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan), or self-imports."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for source, target, _ in internal_edges():
        graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:  # recursion depth = module count, well below the limit
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_lazy_imports_included() -> None:
    cycles = [sorted(c) for c in _cycles()]
    assert not cycles, cycles


@pytest.mark.parametrize(("packages", "layers"), THIRD_PARTY)
def test_heavy_packages_stay_in_their_layers(
    packages: frozenset[str], layers: frozenset[str]
) -> None:
    wrong = []
    for module in modules():
        for name, line in imports(module):
            top = name.split(".")[0]
            if top not in packages or layer_of(module) in layers:
                continue
            if (module, top) in THIRD_PARTY_EXCEPTIONS:
                continue
            wrong.append(f"{module} imports {name}, line {line}")
    assert not wrong, "\n".join(wrong)


def test_only_cli_and_tests_use_the_sandbox() -> None:
    users = {
        source
        for source, target, _ in internal_edges()
        if layer_of(target) == "sandbox" and layer_of(source) != "sandbox"
    }
    assert {layer_of(user) for user in users} <= {"cli"}, users


def test_every_module_says_what_it_is_in_its_first_line() -> None:
    """The README describes the layout; each module's first docstring line says its job."""
    missing = []
    for module, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
        if not first:
            missing.append(module or PACKAGE)
    assert not missing, missing
