"""Whether a system answered every command of a run exactly once, as the mix expects. Pure.

The mix (tests/benchmarks/mix.py) knows each command's expected error and warning codes,
and the fields of its answer's `data` it can know in advance (a claim's badge, a created
group's id and name, ...). An answer is wrong if its type, org, codes or any of those
fields differ; a run fails if any command is unanswered, answered twice, or answered wrongly,
or if an answer arrives for a command nobody sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

EXAMPLES = 5


class Expectation(Protocol):
    @property
    def command_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def type_name(self) -> str: ...
    @property
    def org_id(self) -> int: ...
    @property
    def errors(self) -> tuple[int, ...]: ...
    @property
    def warnings(self) -> tuple[int, ...]: ...
    @property
    def data(self) -> tuple[tuple[str, Any], ...]: ...


def difference(expected: Expectation, answer: Mapping[str, Any]) -> str | None:
    """How the answer differs from what the mix expects of it; None if it does not."""
    errors = tuple(e["code"] for e in answer.get("errors") or ())
    warnings = tuple(w["code"] for w in answer.get("warnings") or ())
    if (errors, warnings) != (expected.errors, expected.warnings):
        return (f"errors {errors} warnings {warnings}, expected {expected.errors} "
                f"{expected.warnings}")
    if (answer.get("type"), answer.get("orgId")) != (expected.type_name, expected.org_id):
        return (f"type {answer.get('type')} org {answer.get('orgId')}, expected "
                f"{expected.type_name} {expected.org_id}")
    data = answer.get("data") or {}
    wrong = {name: data.get(name) for name, value in expected.data if data.get(name) != value}
    if wrong:
        return f"data {wrong}, expected {dict(expected.data)}"
    return None


@dataclass
class Verdict:
    sent: int
    answered: int
    missing: list[str] = field(default_factory=list)
    duplicates: int = 0
    unexpected: int = 0  # answers to commands this driver never sent
    wrong: dict[str, int] = field(default_factory=dict)  # kind -> answers not as expected
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicates or self.unexpected or self.wrong)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "sent": self.sent, "answered": self.answered,
                "missing": len(self.missing), "missing_examples": self.missing[:EXAMPLES],
                "duplicates": self.duplicates, "unexpected": self.unexpected,
                "wrong": self.wrong, "wrong_examples": self.examples[:EXAMPLES],
                "text": self.text()}

    def text(self) -> str:
        """'20000/20000 ok', or what was missing, repeated or not as expected."""
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} MISSING")
        if self.wrong:
            problems.append(f"NOT AS EXPECTED {self.wrong}")
        if self.duplicates:
            problems.append(f"{self.duplicates} ANSWERED TWICE")
        if self.unexpected:
            problems.append(f"{self.unexpected} ANSWERS TO UNSENT COMMANDS")
        return f"{self.answered}/{self.sent} " + ("; ".join(problems) if problems else "ok")


def judge(commands: Sequence[Expectation], answers: Mapping[str, str | None],
          repeats: Mapping[str, int], unexpected: int = 0) -> Verdict:
    """`answers`: command id -> its first answer's difference (None: as expected);
    `repeats`: command id -> answers after the first."""
    verdict = Verdict(sent=len(commands), answered=0, unexpected=unexpected)
    for command in commands:
        if command.command_id not in answers:
            verdict.missing.append(command.command_id)
            continue
        verdict.answered += 1
        verdict.duplicates += repeats.get(command.command_id, 0)
        problem = answers[command.command_id]
        if problem is not None:
            verdict.wrong[command.kind] = verdict.wrong.get(command.kind, 0) + 1
            verdict.examples.append(f"{command.kind} {command.command_id}: {problem}")
    return verdict
