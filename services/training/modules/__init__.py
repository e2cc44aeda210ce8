"""Training modules, enrolment with a waitlist, attendance, completion, and the Open Badges 3.0
credential a completion issues (a VC-JWT signed with the region's Ed25519 key, revocable through a
Bitstring Status List).

The training service wires it with one line each: ``router`` included in its API router, and
``attach(self)`` in its component's ``__init__`` once its handler ``context`` is set (it puts the desk
the routes use on that context, sets the context's ``modules_for`` hook, when it has one, to a query of
this catalogue, adds the modules collection to the outbox relay, and reads the
``CG_TRAINING_CREDENTIAL_*`` settings). Its indexes: ``await ensure_indexes(store)`` in ``prepare``.
"""

from __future__ import annotations

from clustergrowth.component import ServiceComponent
from services.training.modules import badges
from services.training.modules.api import ATTR, router
from services.training.modules.handlers import (
    CREDENTIAL_STATUS,
    MODULES,
    OUTBOX_COLLECTIONS,
    ModuleDesk,
    catalogue_query,
    ensure_indexes,
)
from services.training.modules.settings import CredentialSettings

__all__ = [
    "CREDENTIAL_STATUS",
    "MODULES",
    "OUTBOX_COLLECTIONS",
    "CredentialSettings",
    "ModuleDesk",
    "attach",
    "catalogue_query",
    "ensure_indexes",
    "router",
]


def attach(component: ServiceComponent, settings: CredentialSettings | None = None) -> ModuleDesk:
    """Give the training component its modules desk: the region's issuer (key from the setting, or a
    development key under the data directory) on the component's handler context, and the modules
    collection's outbox on its relay."""
    own = settings or CredentialSettings()
    region = component.settings.region
    path = own.key_file
    if path is None:
        if component.settings.environment == "production":
            raise ValueError("CG_TRAINING_CREDENTIAL_KEY_FILE is required when CG_ENVIRONMENT=production")
        path = component.settings.data_dir / "training-credentials" / f"{region}-ed25519.pem"
        key = badges.load_or_create_key(path)
    else:
        key = badges.read_key(path)
    name = own.issuer_name or f"SME Cluster Growth, region {region}"
    issuer = badges.RegionIssuer(own.base_url.rstrip("/"), region, name, key)
    found = ModuleDesk(component.context, issuer, own.valid_years)
    setattr(component.context, ATTR, found)
    if hasattr(component.context, "modules_for"):  # the plans' hook: suggest modules of this catalogue
        ctx = component.context  # its clock read at each call: a clock set on the context later is the one used
        component.context.modules_for = catalogue_query(lambda: ctx.clock())
    for collection in OUTBOX_COLLECTIONS:
        component.relay.routes.setdefault(collection, component.topic)
    return found
