"""The web service: an HTTP API and a web page over the same annotation path."""

from eqn.service.app import ServiceLimits, create_app

__all__ = ["ServiceLimits", "create_app"]
