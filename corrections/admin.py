"""Django admin of corrections.

- Corrections and their approvals, read only. Corrections change only through the audited
  services; the actions here call them. Admins do not approve (separation of duties: the
  services refuse them), so the actions offered are those of a person who also holds the risk
  role: apply approved corrections, which the service still refuses to anyone without
  approve_corrections.
- Automatic-corrections jobs, read-only, with an action proposing a failed or given-up
  run's corrections again.
- Outbound webhooks: endpoints (through the audited services; a secret is shown once, when
  made), and the delivery log, read-only, with a replay action.
"""

from django import forms
from django.contrib import admin, messages
from django.db import models

from accounts.access import has_capability
from config.errors import DomainError
from config.read_only_admin import ReadOnlyAdmin
from corrections import jobs, outbox, services
from corrections.models import (
    Approval,
    Correction,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    ProposalJob,
    WebhookEndpoint,
)


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


@admin.register(ProposalJob)
class ProposalJobAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Each succeeded run's automatic corrections as a job: which worker, how many deliveries,
    what it made; a failed or given-up one can be proposed again."""

    list_display = ("run", "status", "deliveries", "delivery_limit", "worker", "created_at",
                    "finished_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("run__id", "worker")
    fields = (*list_display, "worker_instance", "outcome")
    readonly_fields = fields
    actions = ["propose_again"]

    def has_module_permission(self, request):
        return has_capability(request.user, "view_corrections")

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_propose_permission(self, request):
        return has_capability(request.user, "propose_corrections")

    @admin.action(description="Propose the selected runs' corrections again (failed or given "
                  "up only)", permissions=["propose"])  # fmt: skip
    def propose_again(self, request, queryset):
        queued = 0
        for job in queryset.order_by("pk"):
            try:
                jobs.retry(job.run_id, by=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                queued += 1
        self.message_user(request, f"{queued} run(s) queued again.")


# --- Outbound webhooks ---------------------------------------------------------------------------


class ForManagers:
    """Shown to those who manage integrations (the capability, not Django's model permissions)."""

    def has_module_permission(self, request):
        return has_capability(request.user, outbox.MANAGE)

    def has_view_permission(self, request, obj=None):
        return has_capability(request.user, outbox.MANAGE)


def _show_secret(modeladmin, request, endpoint, secret: str, what: str) -> None:
    modeladmin.message_user(
        request,
        f"{what} for {endpoint.name}: {secret} — copy it to the receiver now; it is not shown "
        "again.",
        messages.WARNING,
    )


def _formfield(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"  # an address typed without a scheme
    return field.formfield(**kwargs)


class EndpointForm(forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "enabled"]
        formfield_callback = _formfield

    def clean_url(self):
        try:
            return outbox.checked_url(self.cleaned_data["url"])
        except DomainError as refused:
            raise forms.ValidationError(str(refused)) from refused


@admin.action(description="Rotate the signing secret (the old one signs on for a grace period)",
              permissions=["manage"])  # fmt: skip
def rotate_secrets(modeladmin, request, queryset):
    for endpoint in queryset:
        endpoint, secret = outbox.rotate_secret(endpoint, by=request.user)
        _show_secret(modeladmin, request, endpoint, secret, "New secret")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ForManagers, admin.ModelAdmin):
    form = EndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "url", "enabled", "disabled_reason", "secret_rotated_at", "changed_at")
    readonly_fields = ("disabled_reason", "secret_rotated_at", "created_at", "changed_at")
    actions = [rotate_secrets]

    def has_add_permission(self, request):
        return has_capability(request.user, outbox.MANAGE)

    def has_change_permission(self, request, obj=None):
        return has_capability(request.user, outbox.MANAGE)

    def has_manage_permission(self, request):
        return has_capability(request.user, outbox.MANAGE)

    def has_delete_permission(self, request, obj=None):
        return False  # its deliveries are history: disable it instead

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            stored = outbox.change_endpoint(obj, by=request.user, name=data["name"],
                                            url=data["url"], enabled=data["enabled"])  # fmt: skip
        else:
            stored, secret = outbox.create_endpoint(
                name=data["name"], url=data["url"], enabled=data["enabled"], by=request.user
            )
            _show_secret(self, request, stored, secret, "Signing secret")
        obj.pk = stored.pk


class AttemptInline(ReadOnlyAdmin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "requested_at", "response_status", "error", "duration_ms", "signatures")
    readonly_fields = fields
    extra = 0


class DeliveryInline(ReadOnlyAdmin, admin.TabularInline):
    model = Delivery
    fields = ("endpoint", "status", "attempts", "next_attempt_at", "last_status", "delivered_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(OutboxEvent)
class OutboxEventAdmin(ForManagers, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("event_id", "type", "correction", "sequence", "created_at")
    list_filter = ("type",)
    search_fields = ("event_id", "correction__id")
    fields = ("event_id", "type", "correction", "sequence", "payload", "created_at")
    readonly_fields = fields
    inlines = [DeliveryInline]


@admin.action(description="Replay: queue the delivery again, now", permissions=["replay"])
def replay_deliveries(modeladmin, request, queryset):
    count = 0
    for delivery in queryset:
        outbox.replay(delivery, by=request.user)
        count += 1
    modeladmin.message_user(request, f"{count} delivery(ies) queued again.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(ForManagers, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "status", "attempts", "next_attempt_at",
                    "last_status", "delivered_at")  # fmt: skip
    list_filter = ("status", "endpoint")
    search_fields = ("event__event_id",)
    fields = (
        "event",
        "endpoint",
        "correction",
        "sequence",
        "status",
        "attempts",
        "failures",
        "next_attempt_at",
        "last_status",
        "last_error",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = [replay_deliveries]

    def has_replay_permission(self, request):
        return has_capability(request.user, outbox.MANAGE)
