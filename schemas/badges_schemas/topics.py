"""Topic names and message keys: the contract upstream producers and result consumers share."""

from __future__ import annotations

from dataclasses import dataclass

from badges_schemas.commands import CommandType

VERSION = "v1"

# Claim and unclaim share a topic: they change the same claims, and Kafka keeps order only
# within one partition of one topic. The group commands have a topic each.
_COMMAND_TOPICS = {
    CommandType.CLAIM_BADGE: "badge-claims",
    CommandType.UNCLAIM_BADGE: "badge-claims",
    CommandType.CREATE_BADGE_GROUP: "create-badge-group",
    CommandType.UPDATE_BADGE_GROUP: "update-badge-group",
}


@dataclass(frozen=True)
class Topics:
    """All topic names under one prefix (e.g. "badges" or a per-test prefix)."""

    prefix: str = "badges"

    def command(self, command_type: CommandType) -> str:
        return f"{self.prefix}.{_COMMAND_TOPICS[command_type]}.{VERSION}"

    @property
    def commands(self) -> dict[CommandType, str]:
        return {t: self.command(t) for t in CommandType}

    @property
    def all(self) -> list[str]:
        """Every topic the service uses, each once."""
        return sorted({*self.commands.values(), self.results, self.dead_letters})

    @property
    def results(self) -> str:
        return f"{self.prefix}.results.{VERSION}"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dead-letter.{VERSION}"


def command_key(command_type: CommandType, org_id: int, payload: dict[str, object]) -> str:
    """The partitioning key: the entity the command is about, so its commands stay in order.

    Group creation has no id yet; (org, name) is the entity whose uniqueness it decides.
    """
    if command_type in (CommandType.CLAIM_BADGE, CommandType.UNCLAIM_BADGE):
        return str(payload["badgeId"]).lower()
    if command_type is CommandType.UPDATE_BADGE_GROUP:
        return str(payload["groupId"]).lower()
    return f"{org_id}:{payload['name']}"
