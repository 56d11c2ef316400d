"""Grouping DICOM files into studies by StudyInstanceUID, for ``lungct submit`` without ``--study``.

A study ID is 1-128 characters of ``A-Z a-z 0-9 . _ -``. A DICOM UID is at most 64 characters of
digits and dots, so it is used as it is; anything else (a non-conforming UID from some exporter) is
sanitised: each character outside the set becomes ``_``, and an ID that would be longer than 128
characters, or that the sanitising changed, gets a short hash of the original UID appended, so
two different UIDs never share a study.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from lungct.errors import LungctError
from lungct.imaging.dicom import looks_like_dicom

_OUTSIDE = re.compile(r"[^A-Za-z0-9._-]")
_MAX = 128
_HASH = 12


def study_id_from_uid(uid: str) -> str:
    """A valid study ID for a StudyInstanceUID: the UID itself when it fits, else sanitised + hash."""
    uid = uid.strip().rstrip("\0").strip()
    if not uid:
        raise LungctError("the DICOM file has no StudyInstanceUID; give --study")
    clean = _OUTSIDE.sub("_", uid)
    if clean == uid and len(uid) <= _MAX and uid not in (".", ".."):
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:_HASH]
    return f"{clean[: _MAX - _HASH - 1]}-{digest}"


def dicom_study_uid(path: Path) -> str | None:
    """StudyInstanceUID of a DICOM file (header only), or None when the file is not DICOM."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if not looks_like_dicom(head):
        return None
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
    except Exception as exc:  # pydicom raises many types for broken files
        raise LungctError(f"{path}: the DICOM header could not be read ({type(exc).__name__}); give --study") from exc
    return str(ds.get("StudyInstanceUID", "") or "")


def group_by_study(files: list[tuple[Path, str]]) -> dict[str, list[tuple[Path, str]]]:
    """(file, image path) pairs by study ID from their StudyInstanceUID; non-DICOM files are an error."""
    groups: dict[str, list[tuple[Path, str]]] = {}
    not_dicom = []
    for path, image in files:
        uid = dicom_study_uid(path)
        if uid is None:
            not_dicom.append(path)
            continue
        groups.setdefault(study_id_from_uid(uid), []).append((path, image))
    if not_dicom:
        shown = ", ".join(str(p) for p in not_dicom[:3]) + (" ..." if len(not_dicom) > 3 else "")
        raise LungctError(f"without --study only DICOM files can be grouped into studies; not DICOM: {shown}")
    return groups
