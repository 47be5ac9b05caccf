"""Who is calling: a user through a login session or through an API key."""

from __future__ import annotations

from dataclasses import dataclass

ROLE_RANK = {"viewer": 0, "trader": 1, "admin": 2}
SCOPES = ("read", "trade", "control")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    username: str
    role: str
    session_id: str | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = SCOPES

    @property
    def subject(self) -> str:
        """Rate-limit and log identity: the key id for API keys, else the user id."""
        return self.key_id or self.user_id

    def has_role(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]
