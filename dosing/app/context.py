"""Who acts, on which store: the context every use case takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dosing.app.roles import Role
from dosing.store.db import Store


class Actor(BaseModel):
    """The authenticated account a change is attributed to (never a name typed on a command line)."""

    model_config = ConfigDict(frozen=True)

    account_id: int
    username: str
    full_name: str
    roles: frozenset[Role]
    kind: Literal["person", "service"] = "person"
    #: The login session it acts in (None for a service account).
    session_id: int | None = None

    def describe(self) -> str:
        if self.kind == "service":
            return f"{self.username} (service account)"
        return f"{self.full_name} ({self.username})"


@dataclass(frozen=True)
class Context:
    """A use case's surroundings: the store it runs in and the authenticated actor."""

    store: Store
    actor: Actor
