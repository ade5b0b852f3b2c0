"""The errors of talking to Coder, apart from the client (``components.coder_api``).

The components catch and raise these while the program is evaluated; only a dynamic provider that
runs (in its own process) needs the client, so preview imports this small module instead of it.
"""

from __future__ import annotations

from collections.abc import Sequence


class CoderError(Exception):
    """Any failure talking to Coder. The message never contains a password or a token."""


class CoderApiError(CoderError):
    """Coder answered with an unexpected HTTP status."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        message: str,
        detail: str = "",
        validations: Sequence[str] = (),
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.detail = detail
        self.validations = tuple(validations)
        text = f"Coder API {method} {path} returned HTTP {status}: {message or '(no message)'}"
        if detail:
            text += f" (detail: {detail})"
        if validations:
            text += f" (validations: {'; '.join(validations)})"
        super().__init__(text)


class CoderUnavailableError(CoderError):
    """Coder did not answer (or never became healthy) within the allowed time."""


class TemplateImportError(CoderError):
    """A template version's import job failed, was canceled, or did not finish in time."""

    def __init__(self, message: str, *, status: str, log_lines: Sequence[str]) -> None:
        self.status = status
        self.log_lines = tuple(log_lines)
        super().__init__(message)
