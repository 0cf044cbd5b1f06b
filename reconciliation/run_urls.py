from django.urls import path

from reconciliation import break_views, run_views, schedule_views

runs_patterns = (
    [
        path("", run_views.run_list, name="list"),
        path("<int:run_id>/", run_views.run_detail, name="detail"),
        path("<int:run_id>/cancel/", run_views.cancel, name="cancel"),
        path("<int:run_id>/matches.csv", run_views.run_matches_csv, name="matches"),
    ],
    "runs",
)
breaks_patterns = (
    [
        path("", break_views.break_list, name="list"),
        path("export.csv", break_views.break_export_csv, name="export"),
        path("bulk/", break_views.bulk, name="bulk"),
        path("<int:break_id>/", break_views.break_detail, name="detail"),
        path("<int:break_id>/comments/", break_views.add_comment, name="comment"),
    ],
    "breaks",
)

schedules_patterns = (
    [
        path("", schedule_views.schedule_list, name="list"),
        path("timing/", schedule_views.timing, name="timing"),
        path("<int:schedule_id>/", schedule_views.schedule_list, name="edit"),
        path("<int:schedule_id>/toggle/", schedule_views.toggle, name="toggle"),
        path("<int:schedule_id>/delete/", schedule_views.delete, name="delete"),
    ],
    "schedules",
)
