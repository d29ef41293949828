"""/docs and /redoc work with no internet: every asset comes from the API itself."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.main import create_app

REPO = Path(__file__).resolve().parents[3]
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


class _Links(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def client(sqlite_db) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app()) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_reference_no_other_host_and_their_assets_load(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = links(response.text)
    assert len(urls) >= 2  # the script and the favicon at least
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
        assert url.startswith("/")
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content
    # Inline scripts too: no absolute URL anywhere in the page (a CDN, Google
    # Fonts, validator.swagger.io).
    assert re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", response.text) == []
    assert "/openapi.json" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_swagger_ui_does_not_send_the_document_to_the_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs").text


def test_assets_are_served_with_their_content_types(client):
    for name, content_type in ASSETS.items():
        response = client.get(f"/static/docs/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].split(";")[0] == content_type, name
    assert client.get("/static/docs/nope.js").status_code == 404


def test_pages_follow_a_proxy_path_prefix(sqlite_db):
    with TestClient(create_app(), root_path="/forgeyard") as client:
        html = client.get("/docs").text
    assert "/forgeyard/static/docs/swagger-ui-bundle.js" in html
    assert "/forgeyard/openapi.json" in html


def test_the_docs_pages_are_not_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/docs" not in paths and "/redoc" not in paths


@pytest.mark.slow
def test_the_wheel_ships_the_assets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("forgeyard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [*ASSETS, "README.md", "LICENSE.swagger-ui", "LICENSE.redoc"]:
        assert f"api/static/docs/{name}" in names
