"""The services of a regional instance; each owns its own database and publishes its own events."""
