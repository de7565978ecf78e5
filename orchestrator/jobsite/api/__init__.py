"""The jobs site's JSON API under /api/: one router per resource, all deciding access through the
permission table (jobsite/permissions.py) via the store."""
