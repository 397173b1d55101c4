"""What the jobs app announces to the others, so that it need not import them."""

from django.dispatch import Signal

# Sent by every worker's reaper thread after each sweep (jobs.services.Reaper), every
# JOBS_REAP_EVERY_S: a clock for chores that must run on a quiet site too.
reaper_swept = Signal()
