from django.urls import path

from bandits import api

urlpatterns = [
    path("bandit/predict", api.predict, name="bandit-predict"),
    path("bandit/screen", api.screen, name="bandit-screen"),
    path("bandit/metrics", api.metrics, name="bandit-metrics"),
]
