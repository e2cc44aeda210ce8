"""Demo personas for the embedded mode: one per role, with tokens minted by the development issuer (as
``clustergrowth token`` mints them). Never offered when a production issuer is configured."""

from __future__ import annotations

from dataclasses import dataclass

from clustergrowth.auth import DevIssuer
from clustergrowth.settings import RuntimeSettings


@dataclass(frozen=True)
class Persona:
    """A demo person: subject, display name, role and organisation claim."""

    sub: str
    name: str
    role: str
    org: str | None


PERSONAS = (
    Persona("demo-sme", "Aoife Murphy", "sme_member", "Cork Precision Tooling"),
    Persona("demo-manager", "Brendan Walsh", "facility_manager", "Munster Technological University"),
    Persona("demo-student", "Chiara Rossi", "student", None),
    Persona("demo-academic", "Dr Deniz Yılmaz", "academic", "Munster Technological University"),
    Persona("demo-secretary", "Élodie Martin", "council_secretary", None),
    Persona("demo-admin", "Fergal O'Brien", "region_admin", None),
    Persona("demo-analyst", "Gabriela Sánchez", "analyst", None),
    Persona("demo-platform", "Hakan Demir", "platform_admin", None),
)
BY_SUB = {p.sub: p for p in PERSONAS}


def mint(settings: RuntimeSettings, persona: Persona, ttl_s: int) -> str:
    """A development token for the persona in this region."""
    return DevIssuer(settings.data_dir).mint(
        settings, persona.sub, [persona.role], settings.region, persona.org, ttl_s=ttl_s
    )
