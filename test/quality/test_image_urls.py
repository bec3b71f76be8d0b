"""M12: an image URL never reaches a local resource: every redirect hop is checked, and the request goes to the
address that was checked, whatever a second DNS answer says. Two real HTTP servers on loopback addresses; the test
says which of them counts as public."""

import http.server
import io
import socket
import threading

import pytest
from PIL import Image

from modules.api import image_urls

PUBLIC, LOCAL = "127.0.0.1", "127.0.0.2"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


class Server:
    """An HTTP server on `address`: /image answers a PNG, /redirect?to=URL redirects; it records each path asked."""

    def __init__(self, address: str, port: int = 0):
        requests_seen = self.requests = []
        hosts_seen = self.hosts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests_seen.append(self.path)
                hosts_seen.append(self.headers["Host"])
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.split("=", 1)[1])
                    self.end_headers()
                    return
                body = png_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, port), Handler)
        self.url = f"http://{address}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers(monkeypatch):
    """(a "public" server, a local one); is_public_address says only PUBLIC is public."""
    monkeypatch.setattr(image_urls, "is_public_address", lambda address: address == PUBLIC)
    public, local = Server(PUBLIC), Server(LOCAL)
    yield public, local
    public.close()
    local.close()


def download(url: str) -> bytes:
    return image_urls.download(url, forbid_local=True, user_agent="serena-test", timeout=10)


def test_a_public_address_downloads(servers):
    public, _ = servers
    assert download(f"{public.url}/image") == png_bytes()


def test_a_local_address_is_refused_before_any_request(servers):
    _, local = servers
    with pytest.raises(image_urls.RefusedUrl):
        download(f"{local.url}/image")
    assert local.requests == []


def test_a_redirect_to_a_local_address_is_refused_and_never_followed(servers):
    public, local = servers
    with pytest.raises(image_urls.RefusedUrl):
        download(f"{public.url}/redirect?to={local.url}/image")
    assert public.requests == [f"/redirect?to={local.url}/image"] and local.requests == []


def test_a_redirect_between_public_addresses_is_followed(servers):
    public, _ = servers
    assert download(f"{public.url}/redirect?to=/image") == png_bytes()


def test_the_request_goes_to_the_checked_address_whatever_dns_answers_next(servers, monkeypatch):
    """DNS rebinding: the name resolves to the public address when checked, to the local one afterwards."""
    public, local = servers
    port = int(public.url.rsplit(":", 1)[1])
    local.close()
    local = Server(LOCAL, port)  # the local server on the same port: only the address tells them apart
    answers = iter([PUBLIC, LOCAL, LOCAL, LOCAL])
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        assert download(f"http://rebind.test:{port}/image") == png_bytes()
        assert public.requests == ["/image"] and local.requests == []
    finally:
        local.close()


def test_too_many_redirects_fail(servers):
    public, _ = servers
    url = f"{public.url}/image"
    for _ in range(image_urls.MAX_REDIRECTS + 1):
        url = f"{public.url}/redirect?to={url}"
    with pytest.raises(image_urls.FailedDownload, match="redirects"):
        download(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(image_urls.FailedDownload, match="not an http"):
        image_urls.download(url, forbid_local=False, user_agent=None, timeout=5)


@pytest.mark.parametrize("url", ["http://example.com:99999/x.png", "http://example.com:port/x.png", "http://[::1/x.png",
                                 "https://[not-an-address]/x.png"])
def test_a_malformed_url_fails_as_a_download(url):
    with pytest.raises(image_urls.FailedDownload, match="not a valid URL"):
        image_urls.download(url, forbid_local=False, user_agent=None, timeout=5)


def test_the_host_header_is_the_host_and_port_without_user_info(servers):
    public, _ = servers
    port = public.url.rsplit(":", 1)[1]
    assert download(f"http://user:secret@{PUBLIC}:{port}/image") == png_bytes()
    assert public.hosts == [f"{PUBLIC}:{port}"]
