"""The agent and bandit algorithm modules import nothing from Django (the site calls them; they
never call the site), checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from testsupport.live_server import ROOT

PURE_MODULES = (
    "agents.policies", "agents.evaluate", "agents.registry", "agents.oracle", "agents.normalised", "agents.remote", "agents.llm", "agents.runners",
    "agents.stats", "agents.formatting", "agents.learned",
    "agents.learning.ppo", "agents.learning.agent", "agents.learning.imitation", "bandits.datasets", "bandits.optimneuralts",
    "bandits.baselines", "bandits.metrics", "bandits.catalog_dataset", "bandits.screening", "bandits.runners",
)


def test_the_algorithm_modules_import_no_django():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in PURE_MODULES)
            + "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
