"""The policy context's errors; all are :class:`zhisuan.core.errors.PolicyError` (HTTP 422, CLI exit 2)."""

from __future__ import annotations

from zhisuan.core.errors import PolicyError


class PackError(PolicyError):
    """A pack (or case) file that breaks the schema: names the file, the line and the key."""

    code = "invalid_pack"

    def __init__(self, message: str, *, file: str, line: int | None, key: str | None) -> None:
        super().__init__(message, row=line, field=key)
        self.file = file

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["file"] = self.file
        return body


class FactError(PolicyError):
    """A fact is missing, unknown or of the wrong type; ``field`` names it."""

    code = "invalid_fact"


class RuleConflictError(PolicyError):
    """Two award rules claim one case and the pack gives neither priority."""

    code = "rule_conflict"
