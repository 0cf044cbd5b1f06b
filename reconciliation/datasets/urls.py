"""Data in: upload and confirm, import progress, datasets and their downloads, asset aliases."""

from django.urls import path

from reconciliation.datasets import views as dataset_views

app_name = "datasets"
urlpatterns = [
    path("", dataset_views.dataset_list, name="list"),
    path("upload/", dataset_views.upload, name="upload"),
    path("upload/confirm/", dataset_views.confirm_upload, name="confirm"),
    path("imports/<int:job_id>/", dataset_views.import_job, name="import"),
    path("<int:dataset_id>/", dataset_views.dataset_detail, name="detail"),
    path(
        "<int:dataset_id>/download.csv",
        dataset_views.dataset_download,
        {"file_format": "csv"},
        name="download_csv",
    ),
    path(
        "<int:dataset_id>/download.json",
        dataset_views.dataset_download,
        {"file_format": "json"},
        name="download_json",
    ),
    path("aliases/", dataset_views.aliases, name="aliases"),
    path("aliases/<int:alias_id>/", dataset_views.aliases, name="alias"),
    path("aliases/<int:alias_id>/delete/", dataset_views.delete_alias, name="delete_alias"),
]
