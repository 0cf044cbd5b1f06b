from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import token_views
from accounts.api import MeView
from accounts.middleware import page
from accounts.views import SignInView, SignOutView
from audit.api import AuditChainVerify, AuditEventList
from config.views import healthz, metrics
from corrections import api as correction_api
from desk.views import overview
from reconciliation.breaks import api as break_api
from reconciliation.datasets import api as dataset_api
from reconciliation.rules import api as rule_set_api
from reconciliation.runs import api as run_api
from reports import api as report_api

accounts_patterns = (
    [
        path("login/", SignInView.as_view(), name="login"),
        path("logout/", SignOutView.as_view(), name="logout"),
        path("tokens/", token_views.token_list, name="tokens"),
        path("tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token-revoke"),
    ],
    "accounts",
)

api_patterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("audit/events/", AuditEventList.as_view(), name="api-audit-events"),
    path("audit/verify/", AuditChainVerify.as_view(), name="api-audit-verify"),
    path("datasets/", dataset_api.DatasetListCreate.as_view(), name="api-datasets"),
    path(
        "datasets/<int:dataset_id>/",
        dataset_api.DatasetDetail.as_view(),
        name="api-dataset",
    ),
    path(
        "datasets/<int:dataset_id>/records/",
        dataset_api.DatasetRecords.as_view(),
        name="api-dataset-records",
    ),
    path("formats/", dataset_api.FormatList.as_view(), name="api-formats"),
    path("imports/<int:job_id>/", dataset_api.ImportJobDetail.as_view(), name="api-import"),
    path("rule-sets/", rule_set_api.RuleSetList.as_view(), name="api-rule-sets"),
    path(
        "rule-sets/<int:rule_set_id>/drafts/",
        rule_set_api.DraftStart.as_view(),
        name="api-rule-set-draft",
    ),
    path(
        "rule-sets/versions/<int:version_id>/",
        rule_set_api.VersionDetail.as_view(),
        name="api-rule-set-version",
    ),
    path(
        "rule-sets/versions/<int:version_id>/publish/",
        rule_set_api.VersionPublish.as_view(),
        name="api-rule-set-publish",
    ),
    path(
        "rule-sets/versions/<int:version_id>/preview/",
        rule_set_api.VersionPreview.as_view(),
        name="api-rule-set-preview",
    ),
    path("rule-sets/compare/", rule_set_api.VersionCompare.as_view(), name="api-rule-set-compare"),
    path("runs/", run_api.RunListCreate.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", run_api.RunDetail.as_view(), name="api-run"),
    path("runs/<int:run_id>/cancel/", run_api.RunCancel.as_view(), name="api-run-cancel"),
    path("runs/<int:run_id>/matches/", run_api.RunMatches.as_view(), name="api-run-matches"),
    path("breaks/", break_api.BreakList.as_view(), name="api-breaks"),
    path("breaks/actions/", break_api.BreakActions.as_view(), name="api-break-actions"),
    path("breaks/<int:break_id>/", break_api.BreakDetail.as_view(), name="api-break"),
    path(
        "breaks/<int:break_id>/comments/",
        break_api.BreakComments.as_view(),
        name="api-break-comments",
    ),
    path("corrections/", correction_api.CorrectionList.as_view(), name="api-corrections"),
    path(
        "corrections/approve/",
        correction_api.CorrectionsApprove.as_view(),
        name="api-corrections-approve",
    ),
    path(
        "corrections/<int:correction_id>/",
        correction_api.CorrectionDetail.as_view(),
        name="api-correction",
    ),
    path(
        "corrections/<int:correction_id>/approve/",
        correction_api.CorrectionApprove.as_view(),
        name="api-correction-approve",
    ),
    path(
        "corrections/<int:correction_id>/reject/",
        correction_api.CorrectionReject.as_view(),
        name="api-correction-reject",
    ),
    path(
        "corrections/<int:correction_id>/apply/",
        correction_api.CorrectionApply.as_view(),
        name="api-correction-apply",
    ),
    path(
        "corrections/<int:correction_id>/roll-back/",
        correction_api.CorrectionRollBack.as_view(),
        name="api-correction-roll-back",
    ),
    path(
        "breaks/<int:break_id>/corrections/",
        correction_api.BreakCorrections.as_view(),
        name="api-break-corrections",
    ),
    path(
        "runs/<int:run_id>/corrections/apply/",
        correction_api.RunApply.as_view(),
        name="api-run-corrections-apply",
    ),
    path(
        "runs/<int:run_id>/corrections/roll-back/",
        correction_api.RunRollBack.as_view(),
        name="api-run-corrections-roll-back",
    ),
    path("reports/", report_api.ReportList.as_view(), name="api-reports"),
    path("reports/<int:report_id>/", report_api.ReportDetail.as_view(), name="api-report"),
    path(
        "reports/<int:report_id>/download/",
        report_api.ReportDownload.as_view(),
        name="api-report-download",
    ),
    path(
        "reports/<int:report_id>/retry/", report_api.ReportRetry.as_view(), name="api-report-retry"
    ),
    path("report-packs/", report_api.PackList.as_view(), name="api-report-packs"),
    path("report-packs/<int:pack_id>/", report_api.PackDetail.as_view(), name="api-report-pack"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from this address with ?script, so the
    # page needs no inline script under the Content-Security-Policy.
    path(
        "docs/",
        page(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="api/swagger_ui.html"
            )
        ),
        name="api-docs",
    ),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", overview, name="overview"),
    path("accounts/", include(accounts_patterns)),
    path("audit/", include("audit.urls")),
    path("datasets/", include("reconciliation.datasets.urls")),
    path("rules/", include("reconciliation.rules.urls")),
    path("runs/", include("reconciliation.runs.urls")),
    path("breaks/", include("reconciliation.breaks.urls")),
    path("corrections/", include("corrections.urls")),
    path("schedules/", include("reconciliation.schedules.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    # Admin sign-in goes through the same throttled, audited sign-in as every page.
    path("admin/login/", SignInView.as_view()),
    path("admin/", admin.site.urls),
]
