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
    path("runs/<int:run_id>/apply/", views.run_apply, name="run-apply"),
    path("runs/<int:run_id>/roll-back/", views.run_roll_back, name="run-roll-back"),
    path("runs/<int:run_id>/propose-again/", views.run_propose_again, name="run-propose-again"),
]
