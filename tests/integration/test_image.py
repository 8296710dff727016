"""The worker image (`make image`) run as a container against the test stack."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from bson import ObjectId
from testcontainers.core.container import DockerContainer

from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.containers import LABELS, free_port
from tests.infra.image import BUILD_TIMEOUT, BuiltImage
from tests.infra.worker import READY_LINE, START_TIMEOUT, settings_environment

# The first test to use the image may build it: Debian base and wheels, several minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(BUILD_TIMEOUT + 300)]

ORG = 50156
ACTOR = 123
UID = "10001"  # the image's USER (deploy/worker/Containerfile)
HEALTH_TIMEOUT = 30  # seconds for one run of the health check (its own timeout is 5)


def logs(container: DockerContainer) -> str:
    out, err = container.get_logs()
    return (out + err).decode(errors="replace")


def wait_ready(container: DockerContainer) -> None:
    """Return once faust logs that its agents run; fail if the container exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while READY_LINE not in logs(container):
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status == "exited":
            raise RuntimeError(f"worker container exited:\n{logs(container)[-4000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker container not ready in {START_TIMEOUT}s:\n"
                               f"{logs(container)[-4000:]}")
        time.sleep(0.5)  # polling a log; the deadline bounds the wait


@pytest.fixture
def container(worker_image: BuiltImage, settings: Settings) -> Iterator[DockerContainer]:
    """The image as a container on the host's network, so the stack's 127.0.0.1 ports work."""
    worker = DockerContainer(worker_image.name, labels=LABELS)
    # Only the settings go in: the host's PATH and the like would break the image's own.
    for key, value in settings_environment(settings).items():
        worker.with_env(key, value)
    # A free port (host networking is shared), fixed: the health check reads it from the env.
    worker.with_env("BADGES_HTTP_PORT", str(free_port()))
    worker.with_kwargs(network_mode="host")
    with worker:
        try:
            wait_ready(worker)
            yield worker
        except BaseException:
            print(f"--- worker container log ---\n{logs(worker)[-8000:]}")
            raise


def run(container: DockerContainer, *command: str) -> tuple[int, str]:
    code, output = container.exec(list(command))
    return code, output.decode(errors="replace").strip()


def run_health_check(container: DockerContainer) -> tuple[int, str]:
    """Run the image's health check once, by hand: podman 4.3 runs it from systemd timers,
    which these machines lack. Docker has no such command: its check's own command then."""
    wrapped = container.get_wrapped_container()
    if os.environ.get("BADGES_ENGINE") == "podman":
        done = subprocess.run(["podman", "healthcheck", "run", wrapped.id], capture_output=True,
                              text=True, timeout=HEALTH_TIMEOUT, check=False)
        return done.returncode, (done.stdout + done.stderr).strip()
    kind, *command = wrapped.attrs["Config"]["Healthcheck"]["Test"]
    return run(container, *(["sh", "-c", *command] if kind == "CMD-SHELL" else command))


async def test_image_answers_commands_as_a_non_root_user(
    container: DockerContainer, settings: Settings
) -> None:
    assert run(container, "id", "-u") == (0, UID)
    # The container's config holds the image's (podman's image API omits the health check).
    config = container.get_wrapped_container().attrs["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["python", "-m", "service", "worker"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])  # kept: Docker-format build
    # The worker's endpoints, and the REST gateway's port (`python -m service gateway`), as
    # the image declares them (a host-network container's config lists none).
    image = container.get_docker_client().client.images.get(container.image)
    assert {"8081/tcp", "8080/tcp"} <= set(image.attrs["Config"]["ExposedPorts"])
    healthy, said = run_health_check(container)
    assert healthy == 0, f"the worker is up, yet its health check fails: {said}"
    # Installed from wheels in a build stage: no pip, no compiler, no wheels left behind.
    assert run(container, "python", "-c", "import pip")[0] != 0
    for leftover in ("command -v gcc", "command -v cc", "test -e /wheels"):
        assert run(container, "sh", "-c", leftover)[0] != 0, leftover
    badge = str(ObjectId())
    async with BadgesClient(settings) as client:
        result = await client.result(await client.claim(ORG, ACTOR, badge, "Loyalty", "123"))
    assert result.errors == []
    assert result.data == {"badgeMetaId": badge, "ownerType": "Loyalty", "referenceId": "123"}
