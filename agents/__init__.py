"""Agents: baseline, learned and LLM policies, evaluation, the job runners and the command-line
driver. Pure Python (numpy, torch): nothing here imports Django; the site reaches these through
``jobs`` (runners get a context object) and the management commands."""
