"""Errors raised while preparing or launching the embedded vLLM server."""

from __future__ import annotations

from pathlib import Path


class ServerSetupError(RuntimeError):
    """Preparing the server environment or its models failed.

    The message names the step that failed and, where there is one, the log to read.
    """


class ServerStartError(RuntimeError):
    """A vLLM server did not become healthy.

    Attributes:
        log_path: the server's log file.
        log_tail: its last lines, also quoted in the message.
    """

    def __init__(self, message: str, *, log_path: Path | None = None, log_tail: str = "") -> None:
        self.log_path = log_path
        self.log_tail = log_tail
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_start_error, (str(self), self.log_path, self.log_tail))


def _rebuild_start_error(message: str, log_path: Path | None, log_tail: str) -> ServerStartError:
    return ServerStartError(message, log_path=log_path, log_tail=log_tail)
