"""The matching service's routes, one router per use case (combined in ``services/matching/api.py``)."""
