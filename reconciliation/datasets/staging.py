"""Uploaded files waiting for the user's confirmation after the preview (kept one hour).

A confirmed file moves into the `jobs/` folder beside them, where it waits for the worker that
imports it (reconciliation/datasets/import_jobs.py) and is removed once that worker is done with
it; the hourly sweep leaves that folder alone, however long the queue. Web and worker processes must
therefore see the same UPLOAD_STAGING_DIR: one machine, or one shared volume (docker compose
puts it on the volume both containers mount).
"""

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


def pending(token: str) -> dict | None:
    """A genuine, unexpired token's meta while its file waits for confirmation; else None."""
    try:
        meta = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    return meta if (_folder() / meta["name"]).is_file() else None


def meta_of(token: str) -> dict | None:
    """A genuine token's meta, however old and whether or not its file is still kept."""
    try:
        return signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None


def keep_for_job(token_meta: dict) -> int | None:
    """Move a previewed file into the jobs folder (under its name): its size, None if gone."""
    path = _jobs_folder() / token_meta["name"]
    try:
        (_folder() / token_meta["name"]).rename(path)
    except FileNotFoundError:
        return None
    return path.stat().st_size


def stage_for_job(data: bytes) -> str:
    """Keep `data` in the jobs folder straight away (an upload with no preview); its name."""
    name = secrets.token_hex(16)
    path = _jobs_folder() / name
    path.with_suffix(".part").write_bytes(data)
    path.with_suffix(".part").rename(path)  # whole or not there, for the worker
    return name


def job_file(name: str) -> bytes | None:
    path = _jobs_folder() / name
    return path.read_bytes() if path.is_file() else None


def discard_job_file(name: str) -> None:
    (_jobs_folder() / name).unlink(missing_ok=True)


def _jobs_folder() -> Path:
    folder = _folder() / "jobs"
    folder.mkdir(exist_ok=True)
    return folder


def _sweep() -> None:
    cutoff = time.time() - MAX_AGE
    for path in _folder().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
