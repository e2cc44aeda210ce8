"""The network-wide facility catalogue: partners' resources, projected from their replicated events."""
