"""The package layout: one package per concern, no import circle between modules, old paths that warn."""
import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[1] / "zoo"


def _import_graph() -> dict[str, set[str]]:
    """Module -> the zoo modules it imports (at any depth of the file: lazy imports are edges too)."""
    modules = {}
    for path in ZOO.rglob("*.py"):
        name = ".".join(path.relative_to(ZOO.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                target = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
                submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules]
                targets = submodules + ([target] if len(submodules) < len(node.names) else [])
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_no_module_imports_itself_back_through_others():
    graph = _import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return False

    circles = sorted(m for m in graph if reaches(m, m))
    assert not circles, f"modules on an import circle: {circles}"


def test_conversion_and_nir_each_live_in_one_package():
    loose = sorted(p.stem for p in ZOO.glob("*.py"))
    assert loose == ["__init__", "__main__", "atomic", "cli", "convert", "errors", "nir_export", "nir_import",
                     "runtime"]  # the three deprecated aliases go with their next release
    assert {p.stem for p in (ZOO / "conversion").glob("*.py")} >= {"pipeline", "calibration", "ifnet", "family",
                                                                     "publish"}
    assert {p.stem for p in (ZOO / "nir").glob("*.py")} >= {"export", "importer", "check"}


@pytest.mark.parametrize("old, new, name", [("zoo.convert", "zoo.conversion.pipeline", "convert"),
                                            ("zoo.nir_export", "zoo.nir.export", "export_nir"),
                                            ("zoo.nir_import", "zoo.nir.importer", "import_nir")])
def test_old_import_paths_work_and_warn_naming_the_new_one(old, new, name):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
