"""A Kafka broker that only speaks SASL_SSL with SCRAM-SHA-512, with a CA made for the test.

The certificate authority and the broker's certificate come from trustme; the broker reads
its key and certificate chain as one PEM file (`ssl.keystore.type=PEM`, no keystore
password), and its SCRAM user is created by the image's storage-format step
(KAFKA_SCRAM_USERS_FILE, see deploy/kafka/entrypoint.sh). Only the SASL_SSL listener is
published; the broker talks to itself on a plain listener inside the container.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from testcontainers.core.container import DockerContainer

from tests.infra.containers import free_port, kafka_container

MECHANISM = "SCRAM-SHA-512"
USERNAME = "badges"
INSIDE = "/etc/kafka/secrets"  # where the broker finds the files below


@dataclass(frozen=True)
class SecuredKafka:
    bootstrap: str
    ca_file: Path
    username: str
    password: str
    container: DockerContainer


def write_secrets(folder: Path, password: str) -> Path:
    """Write the broker's PEM key store and SCRAM users, and the clients' CA; return the CA."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    # Kafka's PEM key store takes PKCS#8 keys only; trustme writes the traditional format.
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
    (folder / "broker.pem").write_bytes(pkcs8 + chain)
    (folder / "scram-users").write_text(f"{MECHANISM}=[name={USERNAME},password={password}]\n")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    # The broker runs as an unprivileged user of its own: let it read the mounted folder.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder / "ca.pem"


def _broker_env(port: int) -> dict[str, str]:
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "KAFKA_LISTENERS": f"SASL_SSL://0.0.0.0:{port},PLAINTEXT://0.0.0.0:19092,"
                           "CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"SASL_SSL://localhost:{port},"
                                      "PLAINTEXT://localhost:19092",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "KAFKA_SASL_ENABLED_MECHANISMS": MECHANISM,
        # listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config (see the entrypoint's mapping)
        "KAFKA_LISTENER_NAME_SASL__SSL_SCRAM___SHA___512_SASL_JAAS_CONFIG": jaas,
        "KAFKA_SSL_KEYSTORE_TYPE": "PEM",
        "KAFKA_SSL_KEYSTORE_LOCATION": f"{INSIDE}/broker.pem",
        "KAFKA_SCRAM_USERS_FILE": f"{INSIDE}/scram-users",
    }


@contextmanager
def sasl_ssl_kafka(folder: Path) -> Iterator[SecuredKafka]:
    """Start the broker with a fresh CA and a random password; the files go to `folder`."""
    password = secrets.token_urlsafe(24)
    ca_file = write_secrets(folder, password)
    port = free_port()
    with kafka_container(port, _broker_env(port), {str(folder): INSIDE}) as started:
        bootstrap, _, container = started
        yield SecuredKafka(bootstrap, ca_file, USERNAME, password, container)
