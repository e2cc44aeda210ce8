"""What the councils routers share: the handler context as a dependency, and the problems they answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from clustergrowth.errors import problem_responses
from services.councils.handlers import Councils

PROBLEMS = problem_responses(401, 403, 404, 409, 422)  # what every councils route may answer
IF_MATCH_PROBLEMS = problem_responses(412, 428)  # what etags.check answers: a stale or weak tag, none or '*'
ICS = "text/calendar; charset=utf-8"


async def councils(request: Request) -> Councils:
    f: Councils = request.app.state.councils
    return f


Ctx = Annotated[Councils, Depends(councils)]
