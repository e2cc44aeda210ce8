"""Sites and their resources: register, read, list."""

from __future__ import annotations

from typing import Any

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound, field_error
from contracts import facilities as ev
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.domain.model import (
    BookingPolicy,
    OpeningHours,
    Resource,
    Site,
    validate_timezone,
)
from services.facilities.handlers.context import MANAGERS, Facilities, may_manage


# Sites and resources -------------------------------------------------------------------------------
async def create_site(f: Facilities, cmd: c.CreateSite, who: Principal, site_id: str | None = None) -> Site:
    who.require(*MANAGERS)
    validate_timezone(cmd.timezone)
    site = Site(
        id=site_id or f"site-{ids.uuid4().hex[:12]}",
        name=cmd.name,
        kind=cmd.kind,
        region=f.region,
        city=cmd.city,
        address=cmd.address,
        timezone=cmd.timezone,
        opening_hours=OpeningHours({d: [(w.open, w.close) for w in ws] for d, ws in cmd.opening_hours.items()}),
        organisation=_site_organisation(cmd, who),
    )
    await aggregate.save(f.store, st.SITES, st.site_to_doc(site), [], expected_version=None)
    return site


async def get_site(f: Facilities, site_id: str) -> Site:
    d = await f.store.get(st.SITES, site_id)
    if d is None:
        raise NotFound(f"no site {site_id}")
    return st.site_from_doc(d)


async def list_sites(f: Facilities, page: PageRequest) -> list[Site]:
    """One page of the region's sites by name (the store seeks to the cursor)."""
    return [st.site_from_doc(d) for d in await page.query(f.store, st.SITES, {}, [("name", 1)])]


def _site_organisation(cmd: c.CreateSite, who: Principal) -> str | None:
    """A site belongs to the manager's own organisation; only the region's staff may name another one."""
    if cmd.organisation is None or cmd.organisation == who.org:
        return who.org
    if not who.has("region_admin"):
        raise Forbidden(
            "a facility manager registers sites of their own organisation only",
            errors=[{"field": "organisation", "reason": f"is not your organisation ({who.org})"}],
        )
    return cmd.organisation


async def list_resource(f: Facilities, cmd: c.ListResource, who: Principal, resource_id: str | None = None) -> Resource:
    who.require(*MANAGERS)
    site_doc = await f.store.get(st.SITES, cmd.site_id)
    if site_doc is None:
        raise field_error("site_id", f"no site {cmd.site_id}")
    site = st.site_from_doc(site_doc)
    if not may_manage(who, site.organisation):
        raise Forbidden(f"only managers of {site.organisation} may list resources at this site")
    p = cmd.policy
    resource = Resource(
        id=resource_id or f"res-{ids.uuid4().hex[:12]}",
        site_id=site.id,
        name=cmd.name,
        kind=cmd.kind,
        capacity=cmd.capacity,
        policy=BookingPolicy(
            max_duration_minutes=p.max_duration_minutes,
            max_days_ahead=p.max_days_ahead,
            eligible_regions=tuple(p.eligible_regions),
            eligible_roles=tuple(p.eligible_roles),
            requires_approval=p.requires_approval,
            required_training=p.required_training,
            member_of_councils=tuple(dict.fromkeys(p.member_of_councils)),
            check_in_grace_minutes=p.check_in_grace_minutes,
        ),
        region=site.region,
        timezone=site.timezone,
        opening_hours=site.opening_hours,
        organisation=site.organisation,
    )
    event = f.event(
        ev.ResourceListed(
            resource_id=resource.id,
            site_id=site.id,
            resource_name=resource.name,
            kind=resource.kind,
            capacity=resource.capacity,
            region=resource.region,
            timezone=resource.timezone,
            policy=resource.policy.to_doc(),  # partners' catalogues show who may book
        ),
        key=resource.id,
        subject=resource.id,
    )
    await aggregate.save(
        f.store, st.RESOURCES, st.resource_to_doc(resource), [event], expected_version=None, on_saved=f.notify
    )
    return resource


async def get_resource(f: Facilities, resource_id: str) -> Resource:
    d = await f.store.get(st.RESOURCES, resource_id)
    if d is None:
        raise NotFound(f"no resource {resource_id}")
    return st.resource_from_doc(d)


async def list_resources(
    f: Facilities,
    kind: str | None,
    site_id: str | None,
    page: PageRequest | None = None,
    sort: list[tuple[str, int]] | None = None,
) -> list[Resource]:
    """The resources (of a kind, at a site), by site and name unless ``sort`` says otherwise; with
    ``page``, one page of them (the store seeks to the cursor), else all of them."""
    q: dict[str, Any] = {}
    if kind:
        q["kind"] = kind
    if site_id:
        q["site_id"] = site_id
    sort = sort or [("site_id", 1), ("name", 1)]
    if page is not None:
        docs = await page.query(f.store, st.RESOURCES, q, sort)
    else:
        docs = await f.store.find(st.RESOURCES, q, sort=sort)
    return [st.resource_from_doc(d) for d in docs]
