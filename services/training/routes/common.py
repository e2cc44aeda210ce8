"""What the training routers share: the handler context as a dependency, and the problems they answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from clustergrowth.errors import problem_responses
from services.training.handlers import Training

PROBLEMS = problem_responses(401, 403, 404, 409, 422)
IF_MATCH_PROBLEMS = problem_responses(412, 428)


async def training(request: Request) -> Training:
    t: Training = request.app.state.training
    return t


Ctx = Annotated[Training, Depends(training)]
