"""A generic, resumable HTTP(S) downloader.

`fetch(url, dest)` writes to `<dest>.part` and renames onto `dest` only once the file is complete and
checked, so `dest` is never a partial file. It

- retries connection errors, 429 and 5xx answers with exponential backoff (honouring `Retry-After`);
- resumes a partial `.part` with an HTTP Range request; a server that answers 206 sends the remainder,
  one that answers 200 sends the whole file again, which then replaces the partial one;
- checks the size against the server's Content-Length / Content-Range and, when given, against an
  expected size and checksum (sha256, md5, ...), and removes a file that fails these checks;
- makes no request when `dest` already exists and matches what is expected.

URLs are logged without user info or query strings; request headers (tokens) are never logged.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download that cannot complete (after retries) or whose result fails a check."""


def redact_url(url: str) -> str:
    """The URL without credentials (user:password@) or query string (signed tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "…" if parts.query else "", ""))


def file_digest(path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, expected_size, checksum) -> str | None:
    """None if `path` matches the expectations, else what is wrong."""
    size = path.stat().st_size
    if expected_size is not None and size != int(expected_size):
        return f"size {size} bytes, expected {int(expected_size)}"
    if checksum:
        algorithm, value = checksum
        digest = file_digest(path, algorithm)
        if digest.lower() != str(value).lower():
            return f"{algorithm} {digest}, expected {value}"
    return None


def _retry_after(response, default: float) -> float:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else default


def _content_range(header: str | None):
    """(first byte, total) of 'bytes first-last/total' (total None when '*')."""
    if not header or not header.startswith("bytes "):
        return None, None
    span, _, total = header[6:].partition("/")
    first = span.split("-")[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def fetch(url: str, dest, *, session=None, expected_size: int | None = None, checksum: tuple[str, str] | None = None,
          retries: int = 5, backoff: float = 2.0, max_backoff: float = 300.0, timeout=(30, 300),
          chunk_size: int = 1 << 16, sleep=time.sleep) -> Path:
    """Download `url` to `dest` (see the module docstring); returns `dest`.

    `session`: a `requests.Session` (e.g. one that carries an Earthdata token); a plain one otherwise.
    `checksum`: (hashlib algorithm name, hex digest). `retries`: further attempts after the first.
    """
    import requests

    dest = Path(dest)
    shown = redact_url(url)
    if dest.exists():
        problem = _check(dest, expected_size, checksum)
        if problem is None:
            log.info("%s is complete (%d bytes): not downloaded again", dest, dest.stat().st_size)
            return dest
        log.warning("%s exists but %s: downloading it again", dest, problem)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    # urllib3's debug lines carry whole URLs, signed query strings (e.g. S3 redirects) included.
    quiet = logging.getLogger("urllib3")
    level = quiet.level
    quiet.setLevel(max(level, logging.INFO))
    own_session = session is None
    session = session or requests.Session()
    last = "no attempt made"
    try:
        for attempt in range(retries + 1):
            if attempt:
                delay = min(max_backoff, backoff * 2 ** (attempt - 1))
                delay = min(max_backoff, _retry_after(getattr(last, "response", None), delay))
                log.info("retry %d/%d of %s in %.1f s (%s)", attempt, retries, shown, delay, last)
                sleep(delay)
            try:
                done = _attempt(session, url, shown, part, expected_size, timeout, chunk_size)
            except _Retryable as err:
                last = err
                continue
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
                last = _Retryable(f"connection error: {type(err).__name__}")
                continue
            if done:
                problem = _check(part, expected_size, checksum)
                if problem:
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"{shown}: downloaded file rejected: {problem}; nothing written to {dest}")
                os.replace(part, dest)
                log.info("downloaded %s to %s (%d bytes)", shown, dest, dest.stat().st_size)
                return dest
    finally:
        quiet.setLevel(level)
        if own_session:
            session.close()
    kept = f"; the partial file {part} ({part.stat().st_size} bytes) is kept and resumed next time" \
        if part.exists() else ""
    raise DownloadError(f"{shown}: giving up after {retries + 1} attempts: {last}{kept}")


class _Retryable(Exception):
    def __init__(self, message, response=None):
        super().__init__(message)
        self.response = response


def _attempt(session, url, shown, part: Path, expected_size, timeout, chunk_size) -> bool:
    """One request; True when `part` now holds the whole file (as far as the server's sizes tell)."""
    offset = part.stat().st_size if part.exists() else 0
    # identity: byte counts and ranges refer to the file itself, not to a compressed transfer
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with session.get(url, stream=True, headers=headers, timeout=timeout) as r:
        if r.status_code == 416 and offset:
            # The partial file is as long as (or longer than) the resource: start again from zero.
            log.warning("server refused to resume %s at byte %d (416): starting again", shown, offset)
            part.unlink()
            raise _Retryable("416 on resume", r)
        if r.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {r.status_code} {r.reason}", r)
        if r.status_code in (401, 403):
            raise DownloadError(f"{shown}: HTTP {r.status_code} {r.reason}: check your credentials and that "
                                "you accepted the dataset's licence/terms")
        if r.status_code >= 400:
            raise DownloadError(f"{shown}: HTTP {r.status_code} {r.reason}")
        if r.status_code == 206:
            first, total = _content_range(r.headers.get("Content-Range"))
            if first != offset:
                log.warning("server resumed %s at byte %s instead of %d: starting again", shown, first, offset)
                part.unlink(missing_ok=True)
                raise _Retryable("bad Content-Range", r)
            mode = "ab"
            log.info("resuming %s at byte %d of %s", shown, offset, total if total is not None else "?")
        else:
            if offset:
                log.info("server ignored the range request for %s: downloading it whole again", shown)
            offset, mode = 0, "wb"
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() and "Content-Encoding" not in r.headers else None
            log.info("downloading %s (%s bytes)", shown, total if total is not None else "unknown")
        if expected_size is not None and total is not None and total != int(expected_size):
            part.unlink(missing_ok=True)
            raise DownloadError(f"{shown}: server announces {total} bytes, expected {int(expected_size)}; "
                                "nothing downloaded")
        with open(part, mode) as f:
            for block in r.iter_content(chunk_size):
                f.write(block)
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Retryable(f"connection closed after {size} of {total} bytes")
    if total is not None and size > total:
        part.unlink()
        raise _Retryable(f"received {size} bytes, more than the {total} announced")
    return True
