"""The HTTP API: a thin layer that stores orders, starts their workflows and passes
technicians' reports into them."""

from api.main import create_app

__all__ = ["create_app"]
