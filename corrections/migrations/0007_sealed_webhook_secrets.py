"""Webhook signing secrets stored sealed (corrections/sealing.py); those in clear are sealed."""

from django.db import migrations, models

from corrections import sealing


def _each_secret(apps, change) -> None:
    Endpoint = apps.get_model("corrections", "WebhookEndpoint")
    for endpoint in Endpoint.objects.all():
        endpoint.secret = change(endpoint.secret)
        endpoint.previous_secrets = [
            {**entry, "secret": change(entry["secret"])} for entry in endpoint.previous_secrets
        ]
        endpoint.save(update_fields=["secret", "previous_secrets"])


def seal_stored(apps, schema_editor) -> None:
    """Seal the secrets stored in clear before this migration."""
    _each_secret(apps, lambda s: s if sealing.is_sealed(s) else sealing.seal(s))


def open_stored(apps, schema_editor) -> None:
    _each_secret(apps, lambda s: sealing.unseal(s) if sealing.is_sealed(s) else s)


class Migration(migrations.Migration):
    dependencies = [
        ("corrections", "0006_outbox_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(max_length=300),
        ),
        migrations.RunPython(seal_stored, open_stored),
    ]
