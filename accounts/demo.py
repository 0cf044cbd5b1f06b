"""Demo users, one per role. Only `make demo` (config/demo.py) calls this."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts import services
from accounts.roles import ROLES

DEMO_USERS = {role: f"demo-{role}" for role in ROLES}


def _new_password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def ensure_demo_users(credentials_file: Path) -> dict[str, str]:
    """Create the demo users if missing; return {username: password} (kept in credentials_file)."""
    known = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    User = get_user_model()
    credentials = {}
    with transaction.atomic():
        for role, username in DEMO_USERS.items():
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": "Demo", "last_name": role.title()}
            )
            password = known.get(username)
            if created or password is None or not user.check_password(password):
                password = _new_password()
                user.set_password(password)
                user.save(update_fields=["password"])
            services.set_roles(user, [role], by=None)
            credentials[username] = password
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(json.dumps(credentials, indent=2))
    credentials_file.chmod(0o600)
    return credentials
