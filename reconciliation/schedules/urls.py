"""Schedules: the list and editing, the timing preview, pausing and deleting."""

from django.urls import path

from reconciliation.schedules import views

app_name = "schedules"
urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("timing/", views.timing, name="timing"),
    path("<int:schedule_id>/", views.schedule_list, name="edit"),
    path("<int:schedule_id>/toggle/", views.toggle, name="toggle"),
    path("<int:schedule_id>/delete/", views.delete, name="delete"),
]
