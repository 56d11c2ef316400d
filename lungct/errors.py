"""One error base for lungct; subclasses say what went wrong, their messages say what to do."""
from __future__ import annotations


class LungctError(Exception):
    """Base of every error lungct raises on purpose."""


class UnknownLabelError(LungctError):
    """A dataset folder name maps onto none of the four classes."""


class ImageRejected(LungctError):
    """An input that cannot be classified; stored as a REJECTED result, never retried.

    ``code`` is a stable machine-readable reason (``empty``, ``not_an_image``, ...); the message is
    for a person.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidKeyError(LungctError):
    """An S3 key or study ID outside the ``incoming/<study_id>/<path>`` contract."""


class ArtifactError(LungctError):
    """A serving artifact that is missing, tampered with, or made for another preprocessing."""


class ConfigurationError(LungctError):
    """Missing or inconsistent settings (environment, endpoint, model pointer)."""


class TransientError(LungctError):
    """A failure worth retrying through the queue (throttling, network, 5xx)."""
