"""Corrections: the approvals queue, bulk approve, one correction and its actions, proposing."""

from django.urls import path

from corrections import views

app_name = "corrections"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("approve/", views.bulk_approve, name="bulk-approve"),
    path("<int:correction_id>/", views.detail, name="detail"),
    path("<int:correction_id>/approve/", views.approve, name="approve"),
    path("<int:correction_id>/reject/", views.reject, name="reject"),
    path("<int:correction_id>/apply/", views.apply, name="apply"),
    path("<int:correction_id>/roll-back/", views.roll_back, name="roll-back"),
    path("propose/<int:break_id>/", views.propose, name="propose"),
]
