"""Agents: baseline policies, evaluation, and (later) learned and LLM policies. No Django here
except in the Celery task and job modules."""
