"""Reports pages: the list and generating, a report, its download and retry; report packs."""

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:report_id>/", views.report_detail, name="detail"),
    path("<int:report_id>/download/", views.download, name="download"),
    path("<int:report_id>/retry/", views.retry, name="retry"),
    path("packs/", views.pack_list, name="packs"),
    path("packs/<int:pack_id>/", views.pack_list, name="pack-edit"),
    path("packs/<int:pack_id>/toggle/", views.pack_toggle, name="pack-toggle"),
    path("packs/<int:pack_id>/delete/", views.pack_delete, name="pack-delete"),
]
