"""Breaks: the list and its export, bulk actions, one break and its comments."""

from django.urls import path

from reconciliation.breaks import views

app_name = "breaks"
urlpatterns = [
    path("", views.break_list, name="list"),
    path("export.csv", views.break_export_csv, name="export"),
    path("bulk/", views.bulk, name="bulk"),
    path("<int:break_id>/", views.break_detail, name="detail"),
    path("<int:break_id>/comments/", views.add_comment, name="comment"),
]
