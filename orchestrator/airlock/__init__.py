"""The airlock: a web service at a site, next to its workspaces, where people who logged in with a
single-use token view Level 4 files and logs, ask for files to be released, and output checkers
review and release them to the runtime (DESIGN §8). Its own database and Alembic revisions."""
