"""/: a small page for whoever opens the API's address in a browser, pointing to its documentation.

Not part of the API: left out of the OpenAPI schema.
"""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from orchestrator import __version__

router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Orchestrator runtime</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em">
<h1>Orchestrator runtime <small>{version}</small></h1>
<p>The HTTP API of the runtime: objects, triggers, jobs and the operations sites run them in.</p>
<ul>
<li><a href="/docs">/docs</a>: interactive documentation (Swagger UI)</li>
<li><a href="/redoc">/redoc</a>: reference documentation (ReDoc)</li>
<li><a href="/openapi.json">/openapi.json</a>: the OpenAPI schema</li>
<li><a href="/healthz">/healthz</a>: health check</li>
</ul>
</body></html>
"""


@router.get("/", response_class=HTMLResponse)
def home() -> str:
    return PAGE.format(version=__version__)
