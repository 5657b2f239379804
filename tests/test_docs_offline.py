"""`/docs` and `/redoc` work offline: every asset they load is served by the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from query.api import create_app
from tests.backends import make_settings

URL_IN_TEXT = re.compile(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)  # a host


class _Links(HTMLParser):
    """Every src and href of a page (scripts, styles, icons, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(make_settings(tmp_path))) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_another_host(client, page):
    html = client.get(page).text
    links = links_of(html)
    assert any(link.endswith(".js") for link in links)
    external = [link for link in links if urlsplit(link).netloc or urlsplit(link).scheme]
    assert external == []
    assert URL_IN_TEXT.findall(html) == []  # none in inline scripts either
    for link in links:
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > 0, link
    assert client.get("/openapi.json").status_code == 200


def test_swagger_ui_asks_no_online_validator(client):
    # Swagger UI's default validator badge is an image from an online service
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_link_check_sees_an_external_asset():
    page = '<link href="/static/a.css"><script src="https://cdn.example.org/x.js"></script>'
    assert [link for link in links_of(page) if urlsplit(link).netloc] == [
        "https://cdn.example.org/x.js"
    ]
    assert URL_IN_TEXT.findall("fetch('//cdn.example.org/y.js')") == ["//cdn.example.org"]
