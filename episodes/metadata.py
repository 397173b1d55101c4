"""What ``GET /metadata`` says about the environment (OpenEnv's EnvironmentMetadata)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings

README = Path(settings.BASE_DIR) / "README.md"
ENV_NAME = "polypharmacy_env"  # OpenEnv's name of this environment (AutoEnv, the Task API's routes)


@lru_cache(maxsize=1)
def environment_metadata() -> dict[str, str]:
    return {
        "name": ENV_NAME,
        "description": (
            "Elderly polypharmacy medication review as an RL environment: query drug-drug interactions "
            "under a budget, propose interventions, finish the review and be graded. A research "
            "simulator, not clinical advice."
        ),
        "readme_content": README.read_text(encoding="utf-8") if README.exists() else "",
        "version": str(settings.SPECTACULAR_SETTINGS["VERSION"]),
        "author": "PolypharmacyEnv developers",
        "documentation_url": "/docs",
    }
