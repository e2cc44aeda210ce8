"""The composition layer: the registry of services, the embedded one-process composition and the
``clustergrowth`` command. The only floor that names every service and the gateway."""
