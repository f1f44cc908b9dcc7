"""The one grammar for project and environment names, and the names derived
from them (schema, roles, vault item title).

The CLI and the gateway both call these functions before anything else, so a
name that reaches SQL has already been checked here (and is still quoted with
psycopg.sql.Identifier there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaultgate.errors import InvalidNameError

PROJECT_RE = re.compile(r"[a-z][a-z0-9_]{0,29}")
ENV_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
# Names that would collide with the roles we derive or with PostgreSQL's own.
RESERVED_PROJECTS = frozenset({"public", "information_schema", "vaultgate"})
RESERVED_ENVS = frozenset({"owner"})


def validate_project(name: object) -> str:
    """Return name if it is a valid project name, else raise InvalidNameError."""
    if not isinstance(name, str) or not PROJECT_RE.fullmatch(name):
        raise InvalidNameError(
            f"invalid project name {_show(name)}: use 1 to 30 characters, "
            "lowercase letters, digits and '_', starting with a letter"
        )
    if name.startswith("pg_") or name in RESERVED_PROJECTS or "__" in name:
        raise InvalidNameError(
            f"invalid project name {_show(name)}: it is reserved "
            "(pg_*, public, information_schema, vaultgate, or a double '_'); "
            "choose another name"
        )
    return name


def validate_env(name: object) -> str:
    """Return name if it is a valid environment name, else raise InvalidNameError."""
    if not isinstance(name, str) or not ENV_RE.fullmatch(name):
        raise InvalidNameError(
            f"invalid environment name {_show(name)}: use 1 to 16 characters, "
            "lowercase letters and digits, starting with a letter (e.g. dev, prod)"
        )
    if name in RESERVED_ENVS:
        raise InvalidNameError(
            f"invalid environment name {_show(name)}: it is reserved; "
            "choose another name"
        )
    return name


@dataclass(frozen=True)
class Target:
    """A validated (project, env) pair and every name derived from it."""

    project: str
    env: str

    @classmethod
    def of(cls, project: object, env: object) -> Target:
        return cls(validate_project(project), validate_env(env))

    @property
    def schema(self) -> str:
        return f"{self.project}_{self.env}"

    @property
    def login_role(self) -> str:
        return f"{self.project}_{self.env}"

    @property
    def owner_role(self) -> str:
        return f"{self.project}_{self.env}_owner"

    @property
    def item_title(self) -> str:
        return f"{self.project}-{self.env}"


def _show(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 70 else text[:67] + "..."
