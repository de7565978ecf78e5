"""The runtime's HTTP API (FastAPI): one router per resource, assembled by `create_app`."""

from orchestrator.runtime.api.app import create_app

__all__ = ["create_app"]
