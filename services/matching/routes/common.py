"""What the matching routers share: the handler context as a dependency, the term query, the problems."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from clustergrowth.errors import problem_responses
from services.matching import commands as c
from services.matching import handlers as h

Term = Annotated[str | None, Query(pattern=c.TERM, description="academic term, e.g. 2027-spring")]
PROBLEMS = problem_responses(401, 403, 404, 409, 422)  # what every matching route may answer
IF_MATCH_PROBLEMS = problem_responses(412, 428)  # what etags.check answers: a stale or weak tag, none or '*'


async def matching(request: Request) -> h.Matching:
    m: h.Matching = request.app.state.matching
    return m


Ctx = Annotated[h.Matching, Depends(matching)]
