"""The training service: management-practice assessment, honest peer benchmarks, growth action plans
and re-assessment (modules, credentials and mobility placements are parts attached to it)."""
