"""/ on the API's port: a small page for a browser, pointing to the docs; not part of the API's schema."""

import requests


def test_home_page_links_the_docs_and_is_not_in_the_schema(server):
    page = requests.get(f"{server}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/redoc", "/openapi.json"):
        assert f'href="{link}"' in page.text
        assert requests.get(f"{server}{link}", timeout=10).status_code == 200
    assert "/" not in requests.get(f"{server}/openapi.json", timeout=10).json()["paths"]
