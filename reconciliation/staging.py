"""Uploaded files waiting for the user's confirmation after the preview (kept one hour)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from django.conf import settings
from django.core import signing

MAX_AGE = 3600
SALT = "recondesk.upload-staging"


def _folder() -> Path:
    folder = Path(settings.UPLOAD_STAGING_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stage(data: bytes, meta: dict) -> str:
    """Keep `data` and return a signed token naming it with `meta`."""
    _sweep()
    name = secrets.token_hex(16)
    (_folder() / name).write_bytes(data)
    return signing.dumps({"name": name, **meta}, salt=SALT)


def unstage(token: str) -> tuple[bytes, dict] | None:
    """The staged bytes and meta for a token, or None if unknown, tampered or expired."""
    try:
        meta = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    path = _folder() / meta["name"]
    if not path.is_file():
        return None
    return path.read_bytes(), meta


def meta_of(token: str) -> dict | None:
    """A genuine token's meta, however old and whether or not its file is still kept."""
    try:
        return signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None


def discard(token_meta: dict) -> None:
    (_folder() / token_meta["name"]).unlink(missing_ok=True)


def _sweep() -> None:
    cutoff = time.time() - MAX_AGE
    for path in _folder().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
