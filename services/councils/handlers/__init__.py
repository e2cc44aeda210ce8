"""The councils service's use cases, one module per kind of object."""

from services.councils.handlers.context import Councils

__all__ = ["Councils"]
