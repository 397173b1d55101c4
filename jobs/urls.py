from django.urls import path, re_path

from jobs import api, views

app_name = "jobs"

urlpatterns = [
    path("jobs/", views.job_list, name="list"),
    path("jobs/new/<slug:kind>/", views.job_new, name="new"),
    path("jobs/progress.json", views.job_progress, name="progress"),
    path("jobs/compare/", views.compare, name="compare"),
    re_path(r"^jobs/compare/download\.(?P<fmt>csv|json)$", views.compare_download, name="compare-download"),
    path("jobs/curves/", views.curves, name="curves"),
    path("jobs/<int:job_id>/", views.job_detail, name="detail"),
    path("jobs/<int:job_id>/panel", views.job_panel, name="panel"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="cancel"),
    re_path(r"^jobs/(?P<job_id>[0-9]+)/download/(?P<name>[-a-z0-9_]+)\.(?P<fmt>csv|json)$", views.job_download,
            name="download"),
    path("jobs/checkpoints/<slug:name>/file", views.checkpoint_download, name="checkpoint-file"),
    path("api/jobs", api.jobs, name="api-jobs"),
    path("api/jobs/<int:job_id>", api.job, name="api-job"),
    path("api/jobs/<int:job_id>/cancel", api.job_cancel, name="api-job-cancel"),
    path("api/jobs/<int:job_id>/tables", api.job_tables, name="api-job-tables"),
    path("api/jobs/<int:job_id>/tables/<slug:key>", api.job_table, name="api-job-table"),
    path("api/jobs/<int:job_id>/tables/<slug:key>.csv", api.job_table_csv, name="api-job-table-csv"),
    path("api/checkpoints", api.checkpoints, name="api-checkpoints"),
    path("api/checkpoints/<slug:name>/file", api.checkpoint_file, name="api-checkpoint-file"),
]
