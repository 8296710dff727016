"""The rooms of the code and the arrows allowed between them (service/README.md).

Each module belongs to one room; a room may import only the rooms listed for it. The
gateway importing the worker's internals, or the SDK importing the service, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"service": ROOT / "service", "badges_sdk": ROOT / "service/client/badges_sdk",
           "badges_schemas": ROOT / "schemas/badges_schemas"}
# Longest prefix first: a module's room is that of the longest prefix it starts with.
ROOMS = {
    "badges_schemas": "contracts",
    "badges_sdk": "sdk",
    "service.domain": "domain",
    "service.store": "store",
    "service.worker": "worker",
    "service.gateway": "gateway",
    "service.cli": "cli",
    "service.__main__": "entry",
    "service.settings": "shared",
    "service.secrets": "shared",
    "service.logs": "shared",
    "service.retry": "shared",
    "service.checks": "shared",
    "service.version": "shared",
    "service": "shared",  # service/__init__.py
}
ALLOWED = {
    "contracts": set(),
    "sdk": {"contracts"},
    "shared": {"sdk", "contracts"},
    "domain": {"contracts"},
    "store": {"domain", "shared", "contracts"},
    "worker": {"store", "domain", "shared", "sdk", "contracts"},
    "gateway": {"store", "domain", "shared", "sdk", "contracts"},
    "cli": {"shared", "sdk", "contracts"},
    "entry": {"worker", "gateway", "shared", "sdk", "contracts"},
}
# The one module of another room a room may use: the CLI adds the gateway's users.
PUBLIC = {("cli", "service.gateway.users")}


def room_of(module: str) -> str | None:
    for prefix in sorted(ROOMS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return ROOMS[prefix]
    return None


def violations(imports: dict[str, set[str]]) -> list[str]:
    """Every import of ours that crosses to a room its room may not use."""
    found = []
    for module, targets in sorted(imports.items()):
        room = room_of(module)
        for target in sorted(targets):
            other = room_of(target)
            if other is None or other == room or (room, target) in PUBLIC:
                continue
            if room is None or other not in ALLOWED[room]:
                found.append(f"{module} ({room}) imports {target} ({other})")
    return found


def module_name(package: str, source: Path, path: Path) -> str:
    parts = [package, *path.relative_to(source).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ours(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in SOURCES)


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of ours a file imports, wherever the import stands (also in functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if ours(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import; spell the module out")
        elif isinstance(node, ast.ImportFrom) and node.module and ours(node.module):
            # `from service.worker import kafka` imports a module, not a name of a package
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known
                      else node.module for a in node.names}
    return found


def tree() -> dict[str, set[str]]:
    files = {}
    for package, source in SOURCES.items():
        for path in source.rglob("*.py"):
            if package == "service" and path.relative_to(source).parts[0] == "client":
                continue  # service/client/ is the SDK's distribution, read as badges_sdk
            files[module_name(package, source, path)] = path
    return {name: imports_of(path, name, set(files)) for name, path in files.items()}


def test_every_module_is_in_a_room() -> None:
    assert [m for m in tree() if room_of(m) is None] == []


def test_the_code_keeps_to_the_allowed_arrows() -> None:
    assert violations(tree()) == []


def test_the_gateway_importing_the_worker_is_reported() -> None:
    imports = {"service.gateway.runtime": {"service.worker.health", "service.store.mongo"}}
    assert violations(imports) == [
        "service.gateway.runtime (gateway) imports service.worker.health (worker)"]


def test_the_sdk_importing_the_service_is_reported() -> None:
    assert violations({"badges_sdk.client": {"service.settings", "badges_schemas"}}) == [
        "badges_sdk.client (sdk) imports service.settings (shared)"]


def test_the_domain_stays_pure() -> None:
    assert violations({"service.domain.state": {"service.store.mongo"}}) != []
