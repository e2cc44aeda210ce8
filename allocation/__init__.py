"""Student-project allocation with project and supervisor capacities: stable and optimal modes.

A pure algorithm package beside the runtime: it knows no service, no store and no bus (import-linter
holds it to that), so every service that allocates people to places uses the same engine: matching's
rounds (students and academics to challenges) and training's mobility placements (applicants to hosts).
"""
