"""Admin pages that only show: what is written through the audited services, or never changed."""


class ReadOnlyAdmin:
    """Mixed into a ModelAdmin or inline: nothing can be added, changed or deleted there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
