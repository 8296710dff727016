"""Generate the committed contract artefacts: one JSON Schema per message and an AsyncAPI
document. `python -m badges_schemas.export` rewrites them; a test fails when they drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from badges_schemas.codes import Code
from badges_schemas.commands import MESSAGES, CommandType
from badges_schemas.results import DeadLetter, ResultEvent
from badges_schemas.topics import Topics

# Beside the package, in the source tree: committed, and compared by the tests.
GENERATED = Path(__file__).resolve().parents[1] / "generated"

_KEYS = {
    CommandType.CLAIM_BADGE: "payload.badgeId (24 hex digits, lower case)",
    CommandType.UNCLAIM_BADGE: "payload.badgeId (24 hex digits, lower case)",
    CommandType.CREATE_BADGE_GROUP: "'<orgId>:<payload.name>'",
    CommandType.UPDATE_BADGE_GROUP: "payload.groupId (24 hex digits, lower case)",
}


def _messages() -> dict[str, type[BaseModel]]:
    named: dict[str, type[BaseModel]] = {str(t): model for t, model in MESSAGES.items()}
    named["ResultEvent"] = ResultEvent
    named["DeadLetter"] = DeadLetter
    return named


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in _messages().items()}


def _channel(address: str, messages: list[str], key: str, description: str) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
        "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
    }


def _command_channels(topics: Topics) -> dict[str, dict[str, Any]]:
    by_address: dict[str, list[CommandType]] = {}
    for command_type, address in topics.commands.items():
        by_address.setdefault(address, []).append(command_type)
    return {
        address.split(".")[1]: _channel(
            address, [str(t) for t in types], _KEYS[types[0]],
            " and ".join(types) + " commands from upstream modules",
        )
        for address, types in by_address.items()
    }


def asyncapi() -> dict[str, Any]:
    topics = Topics("{prefix}")
    channels = _command_channels(topics)
    operations = {
        f"receive-{name}": {"action": "receive", "channel": {"$ref": f"#/channels/{name}"}}
        for name in channels
    }
    channels["results"] = _channel(
        topics.results, ["ResultEvent"], "the key of the command it answers",
        "One result event per command, in the Badges API envelope",
    )
    channels["dead-letter"] = _channel(
        topics.dead_letters, ["DeadLetter"], "the original message's key",
        "Messages that could not be read as a command",
    )
    for name in ("results", "dead-letter"):
        operations[f"send-{name}"] = {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Badge command service",
            "version": "1.0.0",
            "description": "Result codes: "
            + "; ".join(f"{c.value} {c.message}" for c in Code),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                name: {"name": name, "payload": {"$ref": f"./{name}.schema.json"}}
                for name in _messages()
            }
        },
    }


def render() -> dict[str, str]:
    """File name -> exact text, as committed."""
    files = {
        f"{name}.schema.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    files["asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    return files


def main() -> int:
    GENERATED.mkdir(exist_ok=True)
    for name, text in render().items():
        (GENERATED / name).write_text(text)
    print(f"wrote {len(render())} files to {GENERATED}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
