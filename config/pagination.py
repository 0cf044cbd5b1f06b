"""The one pager of the API: cursor pages, and a bad `page_size` refused the same way everywhere."""

from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(value: str | None, *, default: int = DEFAULT_PAGE_SIZE, most: int = MAX_PAGE_SIZE):
    """The page size asked for, or the default; a 400 naming `page_size` when it cannot be served.

    DRF's own pager falls back to the default for `abc`, `0` or `-1` and clamps a size above the
    maximum: the caller then reads fewer rows than asked without being told, so we refuse.
    """
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= most:
        raise serializers.ValidationError(
            {"page_size": [f"must be a whole number from 1 to {most}"]}
        )
    return int(value)


class Pager(CursorPagination):
    """Cursor pages for every list endpoint.

    A view may set `page_ordering` (a field or a callable of the view giving the fields),
    `default_page_size` and `max_page_size`; newest id first, 100 of up to 1000, otherwise.
    """

    ordering = "-id"
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        return page_size(
            request.query_params.get(self.page_size_query_param),
            default=getattr(getattr(self, "_view", None), "default_page_size", DEFAULT_PAGE_SIZE),
            most=getattr(getattr(self, "_view", None), "max_page_size", MAX_PAGE_SIZE),
        )

    def paginate_queryset(self, queryset, request, view=None):
        self._view = view
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with a 404, as if the list were missing.
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            problem = "is not a cursor of this list: follow the next or previous link"
            raise serializers.ValidationError({"cursor": [problem]}) from None

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "page_ordering", self.ordering)
        if callable(ordering):
            return tuple(ordering())
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
