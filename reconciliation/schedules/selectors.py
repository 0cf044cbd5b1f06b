"""Reading schedules: the list page's rows with what it shows of each."""

from reconciliation.models import Schedule


def listed():
    return Schedule.objects.select_related(
        "internal_account__source", "external_account__source", "periodic_task", "last_run"
    )
