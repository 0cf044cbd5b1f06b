"""Django admin: corrections and their approvals, read only.

Corrections change only through the audited services; the actions here call them. Admins do
not approve (separation of duties: the services refuse them), so the actions offered are those
of a person who also holds the risk role: apply approved corrections, which the service still
refuses to anyone without approve_corrections.
"""

from django.contrib import admin, messages

from accounts.access import has_capability
from config.errors import DomainError
from config.read_only_admin import ReadOnlyAdmin
from corrections import services
from corrections.models import Approval, Correction


class ApprovalInline(ReadOnlyAdmin, admin.TabularInline):
    model = Approval
    fields = ("approver", "content_hash", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Correction)
class CorrectionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("id", "status", "type", "asset", "field", "target", "impact_rc",
                    "approvals_required", "created_by", "created_at")  # fmt: skip
    list_filter = ("status", "type", "origin")
    search_fields = ("target", "asset")
    inlines = [ApprovalInline]
    actions = ["apply_approved"]

    @admin.action(description="Apply the selected approved corrections to the book")
    def apply_approved(self, request, queryset):
        if not has_capability(request.user, "approve_corrections"):
            self.message_user(request, "Your roles do not apply corrections.", messages.ERROR)
            return
        applied = 0
        for correction in queryset.filter(status=Correction.Status.APPROVED).order_by("pk"):
            try:
                services.apply(correction, by=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                applied += 1
        self.message_user(request, f"{applied} correction{'s' if applied != 1 else ''} applied.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Only what the person may do: without approve_corrections there is nothing to offer.
        if not has_capability(request.user, "approve_corrections"):
            actions.pop("apply_approved", None)
        return actions
