"""The training service's use cases: assessments, plans, benchmarks."""

from services.training.handlers.context import Training

__all__ = ["Training"]
