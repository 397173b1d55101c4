from django.urls import path

from jobs import api, views

app_name = "jobs"

urlpatterns = [
    path("jobs/", views.job_list, name="list"),
    path("jobs/new/<slug:kind>/", views.job_new, name="new"),
    path("jobs/progress.json", views.job_progress, name="progress"),
    path("jobs/compare/", views.compare, name="compare"),
    path("jobs/<int:job_id>/", views.job_detail, name="detail"),
    path("jobs/<int:job_id>/panel", views.job_panel, name="panel"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="cancel"),
    path("api/jobs", api.jobs, name="api-jobs"),
    path("api/jobs/<int:job_id>", api.job, name="api-job"),
    path("api/jobs/<int:job_id>/cancel", api.job_cancel, name="api-job-cancel"),
    path("api/checkpoints", api.checkpoints, name="api-checkpoints"),
]
