"""Named, hashed API tokens (django-rest-knox); the old plain-text tokens are dropped.

DRF's `authtoken_token` table held every key in plain text. Those keys no longer authenticate
(the app uses knox), so the table is removed rather than left readable.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token_key", models.CharField(db_index=True, max_length=25)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("expiry", models.DateTimeField(blank=True, null=True)),
                ("digest", models.CharField(max_length=128, unique=True)),
                ("name", models.CharField(max_length=100)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="auth_token_set",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "constraints": [
                    models.UniqueConstraint(fields=("user", "name"), name="api_token_name_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("name", ""), _negated=True), name="api_token_named"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("expiry__isnull", False)), name="api_token_expires"
                    ),
                ],
            },
        ),
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop),
    ]
