"""Fixtures of the site's sensor tests: a Dagster instance, the registered catalog and a site
(defined in support.py, shared with tests/workflows)."""

from tests.sensors.support import instance, registered, site  # noqa: F401 (fixtures)
