"""Replace secret values in a byte stream with a fixed mask.

The stream arrives in chunks, so a secret may be split across two reads. The
masker holds back only the shortest tail that could still begin a secret and
emits everything else at once, so an interactive prompt is not delayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vaultgate.secret import MASK


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
