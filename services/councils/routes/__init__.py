"""The councils service's routes, one router per kind of object (combined in ``services/councils/api.py``)."""
