from django.apps import AppConfig

from jobs.kinds import JobKind, job_kind_register


class BanditsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bandits"
    verbose_name = "Neural-bandit screening"

    def ready(self) -> None:
        # The bandits' job kinds: the jobs app queues, runs and lists them without naming this app.
        job_kind_register(JobKind(
            "bandit_train", "Bandit training (OptimNeuralTS)", "bandits.params.BanditTrainParams",
            "bandits.runners.run_bandit_train", "bandits.presenters.present_bandit_train", queue="training",
            order=40, headline_path="bandits.presenters.headline_bandit_train",
            subject_path="bandits.presenters.subject_bandit_train"))
        job_kind_register(JobKind(
            "bandit_screen", "Bandit screening", "bandits.params.BanditScreenParams",
            "bandits.runners.run_bandit_screen", "bandits.presenters.present_bandit_screen", order=50,
            headline_path="bandits.presenters.headline_bandit_screen",
            subject_path="bandits.presenters.subject_bandit_screen"))
