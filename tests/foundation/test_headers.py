"""Security headers on every response, and pages that need nothing inline or from elsewhere."""

from __future__ import annotations

import httpx
import pytest

from marketplace.headers import content_security_policy
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    "path", ["/", "/login", "/api/rounds", "/schema", "/no/such/page", "/static/css/site.css"]
)
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"accept": "text/html"})
    policy = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
        "connect-src 'self' ws://testserver.local wss://testserver.local",
    ):  # fmt: skip
        assert directive in policy, directive
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers, "no HSTS on plain HTTP"


async def test_hsts_is_sent_when_cookies_are_secure(client: httpx.AsyncClient, over_https: None) -> None:
    response = await client.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_a_forged_host_header_cannot_add_sources_to_the_policy() -> None:
    assert "evil" not in content_security_policy("x; script-src https://evil.example")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")


def test_no_template_carries_inline_script_or_style() -> None:
    for template in (PROJECT_ROOT / "web" / "templates").rglob("*.html"):
        text = template.read_text()
        assert "<style" not in text, template
        assert " style=" not in text, template
        assert "<script>" not in text and "<script " not in text.replace('<script type="module" src=', ""), (
            template
        )


async def test_the_api_docs_page_loads_swagger_from_this_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert "://" not in page.text, "no CDN"
    assert (await client.get("/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200
    assert (await client.get("/vendor/swagger-ui/swagger-ui.css")).status_code == 200
    favicon = await client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg+xml")
