"""Rule sets: the list, drafts, one version (edit, preview, publish, discard), comparison."""

from django.urls import path

from reconciliation.rules import views as rule_set_views

app_name = "rules"
urlpatterns = [
    path("", rule_set_views.rule_set_list, name="list"),
    path("new/", rule_set_views.create, name="create"),
    path("<int:rule_set_id>/draft/", rule_set_views.start_draft, name="start_draft"),
    path("versions/<int:version_id>/", rule_set_views.version_detail, name="version"),
    path("versions/<int:version_id>/publish/", rule_set_views.publish, name="publish"),
    path("versions/<int:version_id>/discard/", rule_set_views.discard, name="discard"),
    path("compare/", rule_set_views.compare, name="compare"),
]
