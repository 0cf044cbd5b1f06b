from django.urls import path

from reconciliation import break_views, run_views

runs_patterns = (
    [
        path("", run_views.run_list, name="list"),
        path("<int:run_id>/", run_views.run_detail, name="detail"),
        path("<int:run_id>/cancel/", run_views.cancel, name="cancel"),
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
