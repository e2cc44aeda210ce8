"""Mapping: SME registry, versioned growth-needs assessment, and the cluster map that spotlights needs."""
