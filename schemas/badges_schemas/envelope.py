"""The result envelope every command is answered with, as the Badges API returns it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from badges_schemas.codes import Code


class Problem(BaseModel):
    """One entry of `errors` or `warnings`."""

    model_config = ConfigDict(frozen=True)

    code: int
    message: str

    @classmethod
    def of(cls, code: Code, detail: str | None = None) -> Problem:
        # API codes keep the API's exact text; detail only qualifies the service's codes.
        if detail and code >= Code.MALFORMED_COMMAND:
            return cls(code=code, message=f"{code.message}: {detail}")
        return cls(code=code, message=code.message)


class Envelope(BaseModel):
    """`{"data": ..., "errors": ..., "warnings": [...]}`; errors is [] on success."""

    data: dict[str, Any] | None = None
    errors: list[Problem] = []
    warnings: list[Problem] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    @classmethod
    def failure(cls, *problems: Problem) -> Envelope:
        return cls(data=None, errors=list(problems))
