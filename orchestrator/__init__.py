"""A Dagster-based runtime that turns submitted objects into claimed, executed, reported jobs."""

__version__ = "0.1.0"
