"""Runs: the list, one run, cancelling it, its matches as CSV."""

from django.urls import path

from reconciliation.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/cancel/", views.cancel, name="cancel"),
    path("<int:run_id>/matches.csv", views.run_matches_csv, name="matches"),
]
