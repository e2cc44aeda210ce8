"""Student-project allocation with project and supervisor capacities: stable and optimal modes."""
