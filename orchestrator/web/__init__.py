"""The jobs site's web pages: server-rendered HTML (Jinja2) over the same store and permission table as
its API, plain CSS and the little JavaScript a live status needs, every asset served from here."""
