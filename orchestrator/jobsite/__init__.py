"""The jobs site: projects, workspaces on git, job requests pinned to a commit, people and roles,
email notifications. It sits on the runtime (its store, its server) and the runtime never imports it.
"""
