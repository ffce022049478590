"""The package's shape stays cheap to change: no import circle (counting imports inside functions and under
TYPE_CHECKING), function-level imports only where a dependency is optional or costly to import, and a tree whose
every module says what it is."""
import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
# third-party packages that an install may lack (extras) or that cost a command's start-up: imported where used
OPTIONAL = {"torch", "onnx", "onnxruntime", "ray", "fastapi", "uvicorn", "sklearn", "faster_whisper", "sounddevice",
            "opensmile", "ai_edge_litert", "h5py", "efficientnet_lite_pytorch", "pyannote", "scipy", "matplotlib"}
# segser modules that need an optional dependency (they import torch, FastAPI or scikit-learn when imported), and
# the command line, whose training, plotting and serving commands load their machinery only when they run
NEEDS_OPTIONAL = {"segser.heads.modules", "segser.runtime.export", "segser.serving.service", "segser.results.plots",
                  "segser.encoders.backbones.imagenet"}
LAZY_REGISTRIES = {"segser.heads", "segser.encoders.backbones"}  # importlib by name: one module per backbone or head


def modules():
    for path in sorted((SRC / "segser").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path, ast.parse(path.read_text())


def imported(node: ast.AST, known: set[str]) -> list[str]:
    """The segser modules an import statement names (a name imported from a package may be a submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("segser")]
    if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("segser"):
        return []
    return [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names]


def test_no_module_imports_itself_through_others():
    parsed = list(modules())
    known = {name for name, _, _ in parsed}
    graph = {name: {m for node in ast.walk(tree) for m in imported(node, known) if m != name} for name, _, tree in parsed}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    sys.setrecursionlimit(10_000)
    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_type_checking_imports_and_function_level_imports_only_of_optional_or_costly_dependencies():
    bad = []
    for name, _, tree in modules():
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                bad.append(f"{name}: an import under TYPE_CHECKING")
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top:
                continue
            target = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if target.split(".")[0] in OPTIONAL or name == "segser.cli" or name in LAZY_REGISTRIES:
                continue
            if target in NEEDS_OPTIONAL or any(target == f"{n}" for n in NEEDS_OPTIONAL):
                continue
            bad.append(f"{name}: imports {target} inside a function (line {node.lineno})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name,path,tree", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_module_says_what_it_is(name, path, tree):
    assert ast.get_docstring(tree), f"{name} has no docstring"
