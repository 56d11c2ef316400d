"""The object key contract: ``incoming/<study_id>/<path>``.

Keys arrive URL-encoded in S3 notifications; :func:`parse_incoming_key` decodes and validates
them so that no key can escape its study or name another study's results.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_plus

from lungct.config import INCOMING_PREFIX
from lungct.errors import InvalidKeyError

STUDY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_IMAGE_PATH = 512


def validate_study_id(study_id: str) -> str:
    """Study IDs are 1-128 characters of ``A-Z a-z 0-9 . _ -``, and not ``.`` or ``..``."""
    if not isinstance(study_id, str) or not STUDY_ID_RE.fullmatch(study_id) or study_id in (".", ".."):
        shown = study_id if isinstance(study_id, str) and len(study_id) <= 40 else f"{str(study_id)[:40]}..."
        raise InvalidKeyError(
            f"study ID {shown!r} is invalid: use 1-128 characters of letters, digits, '.', '_' and '-'"
        )
    return study_id


@dataclass(frozen=True)
class IncomingKey:
    key: str  # decoded S3 key
    study_id: str
    image: str  # path under the study, as uploaded


def parse_incoming_key(raw_key: str, *, url_encoded: bool = True) -> IncomingKey:
    """Decode (if from a notification) and validate a key under ``incoming/``."""
    key = unquote_plus(raw_key) if url_encoded else raw_key
    if not key.startswith(INCOMING_PREFIX):
        raise InvalidKeyError(f"key {key[:80]!r} is not under {INCOMING_PREFIX!r}")
    rest = key[len(INCOMING_PREFIX) :]
    study_id, sep, image = rest.partition("/")
    validate_study_id(study_id)
    if not sep or not image:
        raise InvalidKeyError(f"key {key[:80]!r} has no image path after the study ID")
    validate_image_path(image)
    return IncomingKey(key=key, study_id=study_id, image=image)


def validate_image_path(image: str) -> str:
    if len(image) > MAX_IMAGE_PATH:
        raise InvalidKeyError(f"image path of {len(image)} characters is longer than {MAX_IMAGE_PATH}")
    segments = image.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise InvalidKeyError(f"image path {image[:80]!r} has an empty, '.' or '..' segment")
    if any(unicodedata.category(ch).startswith("C") for ch in image):
        raise InvalidKeyError(f"image path {image[:80]!r} contains control characters")
    return image


def incoming_key(study_id: str, image: str) -> str:
    """The key to upload ``image`` of ``study_id`` under."""
    return f"{INCOMING_PREFIX}{validate_study_id(study_id)}/{validate_image_path(image)}"
