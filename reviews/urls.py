from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from reviews import views, views_audit, views_session

app_name = "reviews"

urlpatterns = [
    path("", views.home, name="home"),
    path("patients/", views.patients, name="patients"),
    path("reviews/", views.sessions, name="sessions"),
    path("reviews/start", views.session_start, name="start"),
    path("reviews/<int:pk>/", views.review, name="review"),
    path("reviews/<int:pk>/query", views.review_query, name="query"),
    path("reviews/<int:pk>/intervene", views.review_intervene, name="intervene"),
    path("reviews/<int:pk>/finish", views.review_finish, name="finish"),
    path("reviews/<int:pk>/suggest", views.review_suggest, name="suggest"),
    path("reviews/<int:pk>/suggestion", views.review_answer_suggestion, name="answer-suggestion"),
    path("reviews/<int:pk>/sign-off", views.review_sign_off, name="sign-off"),
    path("reviews/<int:pk>/live", views_session.review_live, name="live"),
    path("reviews/<int:pk>/revise", views_session.review_revise, name="revise"),
    path("reviews/<int:pk>/comment", views_session.review_comment, name="comment"),
    path("reviews/<int:pk>/audit", views_audit.session_audit, name="session-audit"),
    path("audit/", views_audit.audit_list, name="audit"),
    path("audit/export.csv", views_audit.audit_download, {"fmt": "csv"}, name="audit-csv"),
    path("audit/export.json", views_audit.audit_download, {"fmt": "json"}, name="audit-json"),
    path("audit/verify", views_audit.audit_check, name="audit-verify"),
    path("research/", views_audit.research, name="research"),
    path("research/export.jsonl", views_audit.research_download, {"fmt": "jsonl"}, name="research-jsonl"),
    path("research/export.minari.zip", views_audit.research_download, {"fmt": "minari"}, name="research-minari"),
    # The pseudonym: 12 hex digits (selectors.research_code); anything else is no route at all.
    re_path(r"^research/(?P<code>[0-9a-f]{12})/$", views_audit.research_episode, name="research-episode"),
]

# Accounts: Django's own views with our templates (named explicitly: the admin's
# registration/ templates come first in the app order). No namespace, so LOGIN_URL = "login"
# and the password-change views find each other by their usual names.
account_urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(template_name="reviews/login.html", redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(template_name="reviews/password_change_form.html"), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(template_name="reviews/password_change_done.html"), name="password_change_done"),
]
