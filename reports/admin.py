"""Reports in Django admin: read-only (config/read_only_admin.py); reports are asked for and
built through the reports page, the API or `generate_report`."""

from django.contrib import admin

from config.read_only_admin import ReadOnlyAdmin
from reports.models import PackDelivery, Report, ReportPack


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "format",
        "status",
        "run",
        "period_from",
        "period_to",
        "size",
        "requested_by",
        "requested_at",
    )
    list_filter = ("status", "format")


@admin.register(ReportPack)
class ReportPackAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("name", "formats", "period", "cron", "enabled")


@admin.register(PackDelivery)
class PackDeliveryAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("pack", "period_from", "period_to", "status", "sent_at")
