"""A URL fetcher for WeasyPrint that reads only files inside allowed folders.

Everything else — other local files, ``..`` escapes, symlinks that leave the folders, any network URL —
is refused, and the refusal stops the build with a message naming the URL (WeasyPrint otherwise only
logs a warning and goes on). Nothing is ever fetched over a network, so there are no redirects.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse


class RefusedURL(FatalURLFetchingError):
    """A document asked for a resource outside the allowed folders."""


class SafeFetcher(URLFetcher):
    """Serve ``file:`` URLs whose resolved path lies inside one of ``roots``, and ``data:`` URLs."""

    def __init__(self, roots: Iterable[Path]) -> None:
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False, fail_on_errors=True)
        self.roots = [Path(r).resolve() for r in roots]
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def refuse(self, url: str, why: str) -> RefusedURL:
        self.refused.append(url)
        folders = ", ".join(str(r) for r in self.roots)
        return RefusedURL(f"refused to fetch {url!r}: {why}. The print edition may only use files inside "
                          f"its style and font folders ({folders}); remove the reference from the notes or styles.")

    def path_for(self, url: str) -> Path:
        """The allowed local file ``url`` names, or raise RefusedURL."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            raise self.refuse(url, "only local files are allowed, never network URLs")
        if parts.netloc not in ("", "localhost"):
            raise self.refuse(url, "file URLs on another host are not allowed")
        raw = unquote(parts.path)
        if ".." in raw.split("/"):
            raise self.refuse(url, "paths with '..' are not allowed")
        path = Path(url2pathname(raw))
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise self.refuse(url, "no such file") from None
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise self.refuse(url, "the file is outside the allowed folders")
        if not resolved.is_file():
            raise self.refuse(url, "not a regular file")
        return resolved

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            self.fetched.append(url[:40])
            return super().fetch(url, headers)
        path = self.path_for(url)
        self.fetched.append(url)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": mime})
