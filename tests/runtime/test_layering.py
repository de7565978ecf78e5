"""The framework stays at the edge: the store imports no web framework, and routers use only the store's
methods (never its engines, transactions or blob directory)."""

import ast

from tests.conftest import REPO_ROOT

RUNTIME = REPO_ROOT / "orchestrator" / "runtime"
STORE_INTERNALS = {"blobs", "read", "write", "reader", "writer"}


def _trees(folder):
    return {path.relative_to(REPO_ROOT): ast.parse(path.read_text()) for path in sorted(folder.rglob("*.py"))}


def test_the_store_imports_no_web_framework():
    found = []
    for path, tree in _trees(RUNTIME / "store").items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path}: {name}" for name in names if name.split(".")[0] in ("starlette", "fastapi", "uvicorn")]
    assert found == []


def test_routers_do_not_reach_into_the_store():
    found = []
    for path, tree in _trees(RUNTIME / "api" / "routers").items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in STORE_INTERNALS
                and isinstance(node.value, ast.Name)
                and node.value.id == "store"
            ):
                found.append(f"{path}:{node.lineno}: store.{node.attr}")
    assert found == []


def test_the_runtime_never_imports_the_layers_above_it():
    found = []
    for path, tree in _trees(RUNTIME).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            above = ("orchestrator.jobsite", "orchestrator.airlock", "orchestrator.server")
            found += [f"{path}: {name}" for name in names if name.startswith(above)]
    assert found == []
