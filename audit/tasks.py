"""Celery tasks of the audit log."""

from celery import shared_task

from audit import services


@shared_task(name="audit.export_head")
def export_audit_head(path: str | None = None) -> dict:
    """Export the chain's head outside the database (scheduled hourly by beat)."""
    return services.export_head(path)
