"""The training service's routers, one per kind of object."""
