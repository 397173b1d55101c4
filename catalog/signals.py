"""Every change to a catalog row bumps its catalog's version, so cached catalogs rebuild.

The bump is a single ``UPDATE … SET version = version + 1`` (an F expression), so concurrent
edits never lose a bump. Bulk loads batch their changes (``version_bumps_deferred``) and bump
once at the end instead of once per row.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

_deferred: contextvars.ContextVar[bool] = contextvars.ContextVar("catalog_version_bumps_deferred", default=False)


def catalog_version_bump(catalog_id: int) -> None:
    """Mark the catalog as changed: one atomic increment of its version."""
    from catalog.models import CatalogSource

    CatalogSource.objects.filter(pk=catalog_id).update(version=F("version") + 1, updated_at=timezone.now())


@contextlib.contextmanager
def version_bumps_deferred() -> Iterator[None]:
    """Within this block row changes do not bump the version; the caller bumps once."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


def _catalog_id_of(instance: object) -> int | None:
    from catalog.models import PatientMedication

    if isinstance(instance, PatientMedication):
        # The patient may be gone already when its medications are deleted in a cascade.
        from catalog.models import Patient

        return Patient.objects.filter(pk=instance.patient_id).values_list("catalog_id", flat=True).first()
    return getattr(instance, "catalog_id", None)


def _on_change(sender: type, instance: object, **kwargs: object) -> None:
    if kwargs.get("raw") or _deferred.get():
        return
    catalog_id = _catalog_id_of(instance)
    if catalog_id is not None:
        catalog_version_bump(catalog_id)


def connect() -> None:
    from catalog.models import BeersCriterion, DDIRule, Drug, Patient, PatientMedication

    for model in (Drug, DDIRule, BeersCriterion, Patient, PatientMedication):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"catalog_bump_save_{model.__name__}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"catalog_bump_delete_{model.__name__}")
