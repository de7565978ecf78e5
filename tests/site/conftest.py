"""Fixtures of the end-to-end site tests: a copy of the repository a site runs, and the sites a test
started (stopped, every process, when it ends)."""

from pathlib import Path

import pytest

from tests.site.stack import make_site_copy


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_site_copy(tmp_path / "repo")


@pytest.fixture
def sites():
    started = []
    yield started
    for site in started:
        site.stop()
