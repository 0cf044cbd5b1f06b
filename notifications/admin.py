"""Notifications sent, for admins: read-only (they are a record, as the audit log is)."""

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "kind", "subject_type", "subject_id", "step", "channel",
                    "recipient", "status", "attempts", "sent_at")  # fmt: skip
    list_filter = ("kind", "channel", "status")
    search_fields = ("recipient", "title", "event_id")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
