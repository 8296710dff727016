"""The SDK installs alone: its wheel and the contracts' in a fresh virtualenv, nothing else,
then a command sent and its result awaited against the test stack (a worker of the
service answers it)."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from service.settings import Settings
from tests.infra.worker import WorkerProcess, settings_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600  # seconds: the wheels' build and their dependencies from the index
RUN_TIMEOUT = 120
# What an upstream module must not get with the SDK.
SERVICE_ONLY = ("faust-streaming", "fastapi", "uvicorn", "argon2-cffi", "pymongo")
# Run inside the fresh virtualenv, from a folder outside the source tree.
SCRIPT = """
import asyncio, importlib.util, json, uuid
from badges_sdk import BadgesClient

async def main():
    async with BadgesClient() as client:  # settings from the BADGES_* environment
        command_id = await client.claim(org_id=50156, actor_id=7, badge_id=uuid.uuid4().hex[:24],
                                        owner_type="Loyalty", reference_id="sdk-alone")
        result = await client.result(command_id, timeout=60, org_id=50156)
    found = {name: importlib.util.find_spec(name) is not None
             for name in ("service", "schemas", "faust", "fastapi", "pymongo", "argon2")}
    print(json.dumps({"result": result.model_dump(mode="json"), "importable": found}))

asyncio.run(main())
"""


def run(*command: str | Path, **options: object) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          check=False, **options)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the SDK's wheel, the contracts' wheel and their declared
    dependencies only."""
    folder = tmp_path_factory.mktemp("sdk-alone")
    wheels = folder / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", wheels,
        ROOT / "schemas", ROOT / "service" / "client", timeout=INSTALL_TIMEOUT)
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
        "--find-links", wheels, "badges-sdk", timeout=INSTALL_TIMEOUT)
    return python


def test_the_sdk_wheel_alone_has_no_service_dependencies(sdk_python: Path) -> None:
    listed = json.loads(run(sdk_python, "-m", "pip", "list", "--format", "json"))
    names = {p["name"].lower() for p in listed}
    assert {"badges-sdk", "badges-schemas"} <= names
    assert [n for n in SERVICE_ONLY if n in names] == []
    assert "badges-service" not in names


def test_the_sdk_alone_sends_a_command_and_awaits_its_result(
        sdk_python: Path, settings: Settings, worker: WorkerProcess, tmp_path: Path) -> None:
    script = tmp_path / "upstream.py"
    script.write_text(SCRIPT)
    env = {"PATH": "/usr/bin:/bin", **settings_environment(settings)}
    out = json.loads(run(sdk_python, script, cwd=tmp_path, env=env, timeout=RUN_TIMEOUT))
    assert out["result"]["errors"] == [] and out["result"]["type"] == "ClaimBadge"
    assert out["result"]["data"]["referenceId"] == "sdk-alone"
    assert out["importable"] == {"service": False, "schemas": False, "faust": False,
                                 "fastapi": False, "pymongo": False, "argon2": False}
