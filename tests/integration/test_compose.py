"""deploy/compose.yaml brought up with the local images: one command through the CLI, one
through the REST gateway with curl, then down.

Run with the pinned podman-compose under podman, `docker compose` under Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import ObjectId

from tests.infra.containers import free_port, image_from_env
from tests.infra.gateway import PREFIX, GatewayUsers
from tests.infra.image import BUILD_TIMEOUT, ROOT, BuiltImage

# The first test to use the image may build it: Debian base and wheels, several minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(BUILD_TIMEOUT + 300)]

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
BADGES = Path(sys.executable).with_name("badges")
COMPOSE_TIMEOUT = 180
ANSWER_TIMEOUT = 150  # the worker starts (and may restart) after Kafka and MongoDB
EXIT_KAFKA_UNREACHABLE = 4  # service/cli/commands.py
USER = "loyalty"


def compose_command(project: str) -> list[str]:
    if os.environ.get("BADGES_ENGINE") == "docker":
        return ["docker", "compose", "-p", project, "-f", str(COMPOSE_FILE)]
    podman_compose = Path(sys.executable).with_name("podman-compose")
    return [str(podman_compose), "-p", project, "-f", str(COMPOSE_FILE)]


def engine() -> str:
    return "docker" if os.environ.get("BADGES_ENGINE") == "docker" else "podman"


def leftovers(project: str) -> list[str]:
    """Containers, volumes, networks (and podman pods) the compose project still has."""
    label = f"label=com.docker.compose.project={project}"
    listings = [["ps", "-a", "--filter", label], ["volume", "ls", "--filter", label],
                ["network", "ls", "--filter", label]]
    if engine() == "podman":  # podman-compose may group the containers in a pod
        listings.append(["pod", "ps", "--filter", f"name=pod_{project}"])
    found = []
    for listing in listings:
        done = subprocess.run([engine(), *listing, "-q"], capture_output=True, text=True,
                              timeout=60, check=True)
        found += [f"{listing[0]}: {line}" for line in done.stdout.split()]
    return found


@pytest.fixture
def users(tmp_path: Path) -> GatewayUsers:
    """A users file, readable by the image's uid."""
    users = GatewayUsers(tmp_path / "gateway-users.json").add(USER, 50156, 123)
    users.path.chmod(0o644)  # written 0600 by its owner; the container runs as uid 10001
    return users


@pytest.fixture
def compose_env(worker_image: BuiltImage, users: GatewayUsers) -> dict[str, str]:
    mongo_image = image_from_env("BADGES_MONGO_IMAGE")
    return {
        **os.environ,
        "BADGES_KAFKA_IMAGE": image_from_env("BADGES_KAFKA_IMAGE"),
        "BADGES_MONGO_IMAGE": mongo_image,
        # the local FerretDB build keeps its data in /state, mongo in /data/db
        "BADGES_MONGO_DATA_DIR": "/state" if "ferretdb" in mongo_image else "/data/db",
        "BADGES_WORKER_IMAGE": worker_image.name,
        "BADGES_KAFKA_HOST_PORT": str(free_port()),
        "BADGES_MONGO_HOST_PORT": str(free_port()),
        "BADGES_HTTP_HOST_PORT": str(free_port()),
        "BADGES_GATEWAY_HOST_PORT": str(free_port()),
        "BADGES_LAG_EXPORTER_HOST_PORT": str(free_port()),
        "BADGES_GATEWAY_USERS_HOST_FILE": str(users.path),
    }


@pytest.fixture
def project(compose_env: dict[str, str]) -> Iterator[str]:
    """A compose project of its own, up; taken down with its volumes afterwards."""
    name = f"badgestest{uuid.uuid4().hex[:8]}"
    compose = compose_command(name)
    try:
        subprocess.run([*compose, "up", "-d"], env=compose_env, capture_output=True, text=True,
                       timeout=COMPOSE_TIMEOUT, check=True)
        yield name
    except BaseException:
        logs = subprocess.run([*compose, "logs"], env=compose_env, capture_output=True,
                              text=True, timeout=COMPOSE_TIMEOUT, check=False)
        print(f"--- compose logs ---\n{logs.stdout[-8000:]}\n{logs.stderr[-2000:]}")
        raise
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "30"], env=compose_env,
                       capture_output=True, timeout=COMPOSE_TIMEOUT, check=False)


def claim_through_cli(env: dict[str, str], badge: str) -> subprocess.CompletedProcess[str]:
    """`badges claim`, again while Kafka's host listener is not up yet (same commandId)."""
    command_id = str(uuid.uuid4())
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        left = max(deadline - time.monotonic(), 1.0)
        done = subprocess.run(
            [str(BADGES), "claim", "--org-id", "50156", "--actor-id", "123", "--badge-id", badge,
             "--owner-type", "Loyalty", "--reference-id", "123", "--command-id", command_id,
             "--timeout", str(int(left))],
            env=env, capture_output=True, text=True, timeout=left + 60, check=False)
        if done.returncode != EXIT_KAFKA_UNREACHABLE or time.monotonic() > deadline:
            return done
        time.sleep(1)  # the broker is still starting; the deadline bounds the retries


def unclaim_through_gateway(port: str, badge: str, users: GatewayUsers
                            ) -> tuple[int, dict[str, object]]:
    """The seed's unclaim with curl, again while the gateway is not ready yet (503, or no
    connection: it starts with the stack), within the deadline."""
    command = ["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}",
               f"http://127.0.0.1:{port}{PREFIX}/badgeMeta/{badge}/unclaim",
               "--header", "Accept: application/json",
               "--header", "Content-Type: application/json",
               "--header", f"Authorization: {users.basic(USER)}",
               "--data", '{"ownerType": "Loyalty", "referenceId": "123"}']
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        body, _, status = done.stdout.rpartition("\n")
        if done.returncode == 0 and status != "503":
            return int(status), json.loads(body)
        assert time.monotonic() < deadline, f"no answer from the gateway: {done}"
        time.sleep(1)  # the gateway is still starting; the deadline bounds the retries


def gateway_health_check(project: str) -> tuple[int, str]:
    """Run the compose gateway's health check once, by hand (podman 4.3 runs checks from
    systemd timers, which these machines lack); under Docker, the check's own command."""
    found = subprocess.run(
        [engine(), "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
         "--filter", "label=com.docker.compose.service=gateway"],
        capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert len(found) == 1, f"gateway containers: {found}"
    if engine() == "podman":
        command = ["podman", "healthcheck", "run", found[0]]
    else:
        test = subprocess.run(["docker", "inspect", "--format",
                               "{{json .Config.Healthcheck.Test}}", found[0]],
                              capture_output=True, text=True, timeout=60, check=True)
        command = ["docker", "exec", found[0], *json.loads(test.stdout)[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


def exported_lag(port: str) -> str:
    """The lag exporter's kafka_consumergroup_lag lines, once it has read the group."""
    deadline, seen = time.monotonic() + ANSWER_TIMEOUT, ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                seen = r.read().decode()
        except OSError as exc:
            seen = repr(exc)
        lines = [line for line in seen.splitlines() if line.startswith("kafka_consumergroup_lag{")]
        if lines:
            return "\n".join(lines)
        time.sleep(1)  # the exporter reads the broker every 10 s; the deadline bounds it
    raise AssertionError(f"no lag from the compose lag exporter: {seen[-2000:]}")


def test_compose_up_answers_a_command_and_down_leaves_nothing(
    project: str, compose_env: dict[str, str], users: GatewayUsers
) -> None:
    kafka, mongo = compose_env["BADGES_KAFKA_HOST_PORT"], compose_env["BADGES_MONGO_HOST_PORT"]
    cli_env = {**compose_env, "BADGES_KAFKA_BOOTSTRAP_SERVERS": f"localhost:{kafka}",
               "BADGES_MONGO_URL": f"mongodb://127.0.0.1:{mongo}"}
    badge = str(ObjectId())
    done = claim_through_cli(cli_env, badge)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["errors"] == []
    assert answer["data"] == {"badgeMetaId": badge, "ownerType": "Loyalty", "referenceId": "123"}
    # The same claim, unclaimed through the gateway (as the users file's org and user).
    status, envelope = unclaim_through_gateway(compose_env["BADGES_GATEWAY_HOST_PORT"], badge,
                                               users)
    assert (status, envelope) == (200, {
        "data": {"ownerType": "Loyalty", "referenceId": "123", "isActive": False},
        "errors": None, "warnings": []}), envelope
    healthy, said = gateway_health_check(project)
    assert healthy == 0, f"the gateway answers, yet its health check fails: {said}"
    lag = exported_lag(compose_env["BADGES_LAG_EXPORTER_HOST_PORT"])
    assert 'topic="badges.badge-claims.v1"' in lag, lag
    running = leftovers(project)  # the listing sees the project's objects while it is up
    assert {kind.partition(":")[0] for kind in running} >= {"ps", "volume", "network"}, running
    subprocess.run([*compose_command(project), "down", "-v", "-t", "30"], env=compose_env,
                   capture_output=True, timeout=COMPOSE_TIMEOUT, check=True)
    assert leftovers(project) == []
