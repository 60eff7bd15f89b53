"""The project's error hierarchy: each message says what went wrong and how to fix it."""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(AssistantError):
    """Settings are missing, unknown or invalid; the message lists the valid choices."""


class DataError(AssistantError):
    """Input data is malformed; the message names the file and line where known."""


def csv_error(name: str, lines_read: int, exc: Exception) -> DataError:
    """The error for a CSV file a person gave that Python's csv module, reading it strictly, refused
    (`lines_read`: the lines before the row that failed, a `DictReader`'s `line_num`). Read leniently, a quote
    left open swallows the rows after it into one field and a stray one shifts the columns, silently."""
    return DataError(
        f"{name}, line {lines_read + 1}: not valid CSV ({exc}); is a quote left open or a stray quote inside a "
        'field? A field with quotes, commas or line breaks must be quoted, its own quotes doubled ("")'
    )


class ModelNotPreparedError(AssistantError):
    """A model folder is missing: run `python -m assistant models prepare`."""


class ModelPreparationError(AssistantError):
    """Preparing a model folder from packaged weights failed."""


class MissingPackageError(ModelPreparationError):
    """A package that ships weights or a library is not installed; the message says how to add it."""

    def __init__(self, package: str, install: str, purpose: str) -> None:
        super().__init__(
            f"the package {package!r} is not installed; it provides {purpose}. Install it with: {install}"
        )
        self.package = package
        self.install = install


class BackendError(AssistantError):
    """A model backend failed to load or run."""


class IndexNotBuiltError(AssistantError):
    """The search index is empty: run `python -m assistant index`."""


class InputError(AssistantError):
    """A request or message is malformed, empty or too large; the message says what is allowed."""


class NotFoundError(AssistantError):
    """No such conversation for this session (unknown ids and foreign ids read the same)."""


class AuthError(AssistantError):
    """Missing or wrong credentials, or an expired agent session: sign in again."""


class RateLimitedError(AssistantError):
    """Too many requests from one client; retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many requests: try again in {max(1, round(retry_after_s))} s")
        self.retry_after_s = retry_after_s
