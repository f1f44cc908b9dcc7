"""Replace secret values in a byte stream with a fixed mask.

The stream arrives in chunks, so a secret may be split across two reads. The
masker holds back only the shortest tail that could still begin a secret and
emits everything else at once, so an interactive prompt is not delayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from vaultgate.secret import MASK


def forms(values: Iterable[str]) -> list[bytes]:
    """Every byte string to mask for these secret values.

    A value that is a URL with a password (postgresql://user:pw@host/db or
    ?password=pw) also yields the password alone, decoded and percent-encoded,
    since a child that parses the URL prints it in either form.
    """
    out: list[bytes] = []
    for value in values:
        out.append(value.encode("utf-8", "surrogateescape"))
        for password in _url_passwords(value):
            for form in {password, unquote(password), quote(unquote(password),
                                                            safe="")}:
                out.append(form.encode("utf-8", "surrogateescape"))
    return out


def _url_passwords(value: str) -> list[str]:
    """The passwords a URL value carries, as written in it; [] if none."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    if not parts.scheme:
        return []
    found: list[str] = []
    userinfo, at, _host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for pair in parts.query.split("&"):
        key, _eq, raw = pair.partition("=")
        if unquote(key) == "password":
            found.append(raw)
    return [password for password in found if password]


class Masker:
    """Feed chunks in, get masked bytes out; call flush() at end of stream."""

    def __init__(self, secrets: Iterable[bytes], mask: bytes = MASK.encode()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._secrets = values
        self._mask = mask
        self._pattern = (re.compile(b"|".join(re.escape(s) for s in values))
                         if values else None)
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        if self._pattern is None:
            return chunk
        data = self._held + chunk
        keep = self._partial_tail(data)
        safe = len(data) - keep
        out = bytearray()
        pos = 0
        for match in self._pattern.finditer(data):
            if match.start() >= safe:
                break
            out += data[pos:match.start()] + self._mask
            pos = match.end()
        cut = max(pos, safe)
        out += data[pos:cut]
        self._held = data[cut:]
        return bytes(out)

    def flush(self) -> bytes:
        data, self._held = self._held, b""
        if self._pattern is None or not data:
            return data
        return self._pattern.sub(lambda _: self._mask, data)

    def _partial_tail(self, data: bytes) -> int:
        """Length of the longest tail of data that is a proper prefix of a secret."""
        longest = 0
        for secret in self._secrets:
            start = max(len(data) - len(secret) + 1, 0)
            first = secret[:1]
            index = data.find(first, start)
            while index >= 0:
                if secret.startswith(data[index:]):
                    longest = max(longest, len(data) - index)
                    break
                index = data.find(first, index + 1)
        return longest
