"""django-celery-beat's admin, read-only: schedules are made on the Schedules page (audited).

Its own forms offer every registered task (internal ones such as `reconciliation.execute_run`
included) with free arguments, and its actions run any task at once, all outside the audit log.
Here beat's tables can be read, nothing more; `reconciliation/schedules/services.py` writes them.
"""

from django.contrib import admin
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from config.read_only_admin import ReadOnlyAdmin

SCHEDULES_PAGE = "Schedules are created and changed on the desk's Schedules page (/schedules/)."


class ReadOnly(ReadOnlyAdmin):
    def get_actions(self, request):
        return {}


class PeriodicTaskAdmin(ReadOnly, beat_admin.PeriodicTaskAdmin):
    # Beat's form field `regtask` (the list of every registered task) is left out.
    fieldsets = (
        (None, {"fields": ("name", "task", "enabled", "description"),
                "description": SCHEDULES_PAGE}),
        ("Schedule", {"fields": ("interval", "crontab", "solar", "clocked", "start_time",
                                 "last_run_at", "one_off")}),
        ("Arguments", {"fields": ("args", "kwargs")}),
    )  # fmt: skip
    change_form_template = None


class PeriodicTaskInline(ReadOnly, beat_admin.PeriodicTaskInline):
    pass


def _read_only(admin_class):
    return type(admin_class.__name__, (ReadOnly, admin_class), {"inlines": [PeriodicTaskInline]})


REPLACED = {
    PeriodicTask: PeriodicTaskAdmin,
    ClockedSchedule: _read_only(beat_admin.ClockedScheduleAdmin),
    CrontabSchedule: _read_only(beat_admin.CrontabScheduleAdmin),
    SolarSchedule: _read_only(beat_admin.SolarScheduleAdmin),
    IntervalSchedule: _read_only(beat_admin.IntervalScheduleAdmin),
}

for model, model_admin in REPLACED.items():
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
