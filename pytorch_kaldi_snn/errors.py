"""Exceptions with messages a user can act on.

Every error raised on bad user input derives from :class:`SnnKaldiError`; the CLI turns
it into one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

from typing import Optional


class SnnKaldiError(Exception):
    """Base class of all errors caused by user input (files, options, cfgs)."""


class ConfigError(SnnKaldiError, ValueError):
    """A cfg/proto/option value is missing or invalid.

    The message names where the value came from (file, section, key), the value itself
    and what would have been accepted.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: Optional[str] = None,
        section: Optional[str] = None,
        key: Optional[str] = None,
        value: Optional[str] = None,
        allowed: Optional[str] = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.section = section
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.section:
            where.append(f"[{self.section}]")
        if self.key:
            where.append(self.key)
        text = " ".join(where)
        text = f"{text}: {self.problem}" if text else self.problem
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text


class DataError(SnnKaldiError):
    """A data file (ark, scp, wav, alignment, graph) is missing, corrupt or
    inconsistent."""
