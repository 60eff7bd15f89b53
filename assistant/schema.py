"""Frozen records that cross stage and module boundaries.

Stages return one of these, never a dict and never ``None`` for "nothing found". The turn
records (`Understanding`, `Evidence`, `Draft`, `Reply`, `TurnTrace`) join this module with the
pipeline; what is here today is what the model layer needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat prompt, in the role/content shape chat templates expect."""

    role: Role
    content: str


class ModelRole(StrEnum):
    """The model slots the assistant fills; each maps to one settings key in `[models]`."""

    EMBEDDER = "embedder"
    GENERATOR = "generator"
    ENGLISH_EMBEDDER = "english_embedder"


@dataclass(frozen=True)
class PreparedModel:
    """A model folder ready to load, and where it came from."""

    role: ModelRole
    path: Path
    source: str
    source_sha256: str
    status: Literal["prepared", "already prepared", "located"]
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelLocation:
    """Where a role's weights load from: a local folder, or a hub id for online machines."""

    role: ModelRole
    reference: str
    is_local: bool
    is_ready: bool
