"""The central runtime: objects, triggers, jobs, atomic claims and leased operations.

`Store` is the storage contract (SQLite or PostgreSQL through one set of SQLAlchemy statements);
`api.create_app` serves it over HTTP; `RuntimeClient` is how sites, ops and the CLI talk to it.
"""
