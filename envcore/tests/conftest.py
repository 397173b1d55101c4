import pytest

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv


@pytest.fixture(scope="session")
def classic() -> Catalog:
    return Catalog.load("classic")


@pytest.fixture(scope="session")
def curated() -> Catalog:
    return Catalog.load("curated")


@pytest.fixture
def env(classic: Catalog) -> PolypharmacyEnv:
    return PolypharmacyEnv(classic)


def query(a: str, b: str) -> dict:
    return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}


def intervene(target: str, kind: str, new: str | None = None) -> dict:
    action = {"action_type": "propose_intervention", "target_drug_id": target, "intervention_type": kind}
    if new is not None:
        action["proposed_new_drug_id"] = new
    return action


FINISH = {"action_type": "finish_review"}
