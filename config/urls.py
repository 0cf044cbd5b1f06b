from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import MeView
from accounts.middleware import page
from accounts.views import SignInView, SignOutView
from audit.api import AuditChainVerify, AuditEventList
from config.views import healthz
from reconciliation import api as reconciliation_api
from reconciliation.views import overview

accounts_patterns = (
    [
        path("login/", SignInView.as_view(), name="login"),
        path("logout/", SignOutView.as_view(), name="logout"),
    ],
    "accounts",
)

api_patterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("audit/events/", AuditEventList.as_view(), name="api-audit-events"),
    path("audit/verify/", AuditChainVerify.as_view(), name="api-audit-verify"),
    path("datasets/", reconciliation_api.DatasetListCreate.as_view(), name="api-datasets"),
    path(
        "datasets/<int:dataset_id>/",
        reconciliation_api.DatasetDetail.as_view(),
        name="api-dataset",
    ),
    path(
        "datasets/<int:dataset_id>/records/",
        reconciliation_api.DatasetRecords.as_view(),
        name="api-dataset-records",
    ),
    path("formats/", reconciliation_api.FormatList.as_view(), name="api-formats"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", page(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
]

urlpatterns = [
    path("", overview, name="overview"),
    path("accounts/", include(accounts_patterns)),
    path("audit/", include("audit.urls")),
    path("datasets/", include("reconciliation.urls")),
    path("api/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    # Admin sign-in goes through the same throttled, audited sign-in as every page.
    path("admin/login/", SignInView.as_view()),
    path("admin/", admin.site.urls),
]
