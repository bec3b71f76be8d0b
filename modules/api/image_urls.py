"""Downloading an image a request names by URL (A1111's api_enable_requests), without reaching local resources: each
hop of a redirect is checked, and the connection goes to the very address that was checked (no second DNS answer)."""

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

MAX_REDIRECTS = 5
MAX_BYTES = 50 * 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class RefusedUrl(Exception):
    """The URL, or a redirect it leads to, points at a local resource (HTTP 403)."""


class FailedDownload(Exception):
    """The URL could not be downloaded (HTTP 422)."""


def is_public_address(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError) as e:
        raise FailedDownload(f"cannot resolve {host}: {e}") from e


def _parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, hostname, port, Host header) of an http(s) URL; the Host header carries no user info."""
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError as e:
        raise FailedDownload(f"not a valid URL: {url!r} ({e})") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FailedDownload(f"not an http(s) URL: {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host_header = f"{host}:{explicit_port}" if explicit_port is not None else host
    return parts.scheme, parts.hostname, explicit_port or (443 if parts.scheme == "https" else 80), host_header


def _pool(scheme: str, address: str, port: int, host: str, timeout: float):
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED",
                                           ca_certs=certifi.where(), server_hostname=host, assert_hostname=host)
    return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)


def download(url: str, forbid_local: bool, user_agent: str | None, timeout: float) -> bytes:
    """The bytes at url, following up to MAX_REDIRECTS redirects; with forbid_local, every hop's host must resolve
    to public addresses only, and the request goes to the address checked."""
    for _ in range(MAX_REDIRECTS + 1):
        scheme, hostname, port, host_header = _parse(url)
        addresses = _addresses(hostname, port)
        if forbid_local and not all(is_public_address(address) for address in addresses):
            raise RefusedUrl(f"{hostname} is a local address")
        headers = {"Host": host_header, **({"User-Agent": user_agent} if user_agent else {})}
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            with _pool(scheme, addresses[0], port, hostname, timeout) as pool:
                response = pool.urlopen("GET", target, headers=headers, redirect=False, preload_content=False)
                try:
                    if response.status in REDIRECTS and response.headers.get("Location"):
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status >= 400:
                        raise FailedDownload(f"the server answered {response.status}")
                    data = response.read(MAX_BYTES + 1)
                finally:
                    response.release_conn()
        except urllib3.exceptions.HTTPError as e:
            raise FailedDownload(str(e)) from e
        if len(data) > MAX_BYTES:
            raise FailedDownload(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        return data
    raise FailedDownload(f"more than {MAX_REDIRECTS} redirects")
