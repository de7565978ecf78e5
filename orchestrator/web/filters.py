"""Template filters both sites share, so a time reads the same everywhere (and as live.js writes it)."""

from datetime import UTC, datetime


def when(value) -> str:
    """A datetime or an ISO 8601 string as '2026-12-04 10:00:05 UTC'; '' for none."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def install(templates) -> None:
    templates.env.filters["when"] = when
