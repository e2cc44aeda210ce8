"""Shared runtime of the SME Cluster Growth services: ports, adapters, envelope, outbox, auth, errors.

It holds no domain logic; each service under ``services/`` owns its own domain.
"""
