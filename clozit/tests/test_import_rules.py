"""The import rules of the code: the contracts in pyproject.toml ([tool.importlinter]), and no
import circle between any two modules of the product, function-level imports included.

A circle is what made imports hide inside functions; a broken layer is a rule that now lives in
the wrong place. Either fails here with import-linter's report, or with the modules of the circle.
"""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("accounts", "billing", "campaigns", "clozit", "notices", "policies", "telephony")


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def product_modules(graph: grimp.ImportGraph) -> set[str]:
    return {
        module
        for module in graph.modules
        if module.split(".")[0] in PRODUCT
        and ".tests" not in module
        and ".migrations" not in module
        and module not in ("clozit.settings", "clozit.settings_test")
    }


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(imports[target]))))
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_of_the_product_imports_itself_back():
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PRODUCT, cache_dir=None)
    modules = product_modules(graph)
    imports = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}

    found = circles(imports)

    assert not found, "Import circles (each line: modules that import one another):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_a_circle_is_found():
    """The check itself: two modules that import each other, and a three-module ring, are reported."""
    imports = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}

    assert sorted(circles(imports)) == [["a", "b"], ["c", "d", "e"]]
