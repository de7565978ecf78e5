"""Fixtures of the workflow tests: a Dagster instance, the registered catalog and a site, the same
as the sensor tests use (tests/sensors/support.py)."""

from tests.sensors.support import instance, registered, site  # noqa: F401 (fixtures)
