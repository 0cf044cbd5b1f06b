"""Each audit entry carries an HMAC signature and the id of its key (audit/chain.py).

Entries already stored stay unsigned: the table is append-only, and signing them now would vouch
for whatever a database administrator may have added before. An installation with such entries
declares them with AUDIT_UNSIGNED_UNTIL (README, "Audit log signatures").
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, db_default="", max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="signature",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
    ]
