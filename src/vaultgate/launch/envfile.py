"""Env files as `op run --env-file` reads them.

    # a comment                      blank lines are skipped
    export KEY=value                 `export` is optional
    KEY = value  # inline comment    spaces around `=` are allowed
    KEY='literal $text'              single quotes: nothing is interpreted
    KEY="line one\\nline two"         double quotes: \\n \\r \\t \\" \\\\ \\$ escapes

Quoted values may span lines. An error names the file and line, never any of
the file's content: a line without '=' may well be a pasted secret.
"""

from __future__ import annotations

import re

from vaultgate.errors import UsageError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def load(path: str) -> dict[str, str]:
    """Read and parse one env file; UsageError naming the file if it cannot."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UsageError(
            f"cannot read env file {path}: {exc.strerror}; check the --env-file path"
        ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"env file {path} is not UTF-8 text; save it as UTF-8"
        ) from exc
    return parse(text, path)


def parse(text: str, name: str = "<env file>") -> dict[str, str]:
    """Parse env-file text into an ordered dict; a later key wins."""
    return dict(_Parser(text.replace("\r\n", "\n"), name).pairs())


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.pos = 0

    def pairs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while self.pos < len(self.text):
            self._skip_blank()
            if self.pos >= len(self.text):
                break
            if self.text[self.pos] == "#":
                self._skip_line()
                continue
            out.append(self._assignment())
        return out

    def _assignment(self) -> tuple[str, str]:
        line = self._line_no()
        export = _EXPORT.match(self.text, self.pos)
        if export and _KEY.match(self.text, export.end()):
            self.pos = export.end()
        key = _KEY.match(self.text, self.pos)
        if key is None:
            raise self._error(line, "expected KEY=VALUE with a name of letters, "
                                    "digits and '_'")
        self.pos = key.end()
        self._skip_spaces()
        if not self.text.startswith("=", self.pos):
            raise self._error(line, "a name without '='; write KEY=VALUE")
        self.pos += 1
        self._skip_spaces()
        return key.group(), self._value(line)

    def _value(self, line: int) -> str:
        quote = self.text[self.pos:self.pos + 1]
        if quote not in ("'", '"'):
            return self._unquoted()
        end = self._closing(quote)
        if end < 0:
            raise self._error(line, f"the {quote} quote opened here is never "
                                    "closed; close it")
        raw = self.text[self.pos + 1:end]
        self.pos = end + 1
        self._rest_of_line(line)
        return raw if quote == "'" else _unescape(raw)

    def _unquoted(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        raw = self.text[self.pos:end]
        self.pos = end
        comment = re.search(r"[ \t]#", raw)
        if comment:
            raw = raw[:comment.start()]
        return raw.rstrip(" \t")

    def _closing(self, quote: str) -> int:
        index = self.pos + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\" and quote == '"':
                index += 2
                continue
            if char == quote:
                return index
            index += 1
        return -1

    def _rest_of_line(self, line: int) -> None:
        self._skip_spaces()
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            self._skip_line()
        elif self.pos < len(self.text) and self.text[self.pos] != "\n":
            raise self._error(line, "unexpected text after a quoted value; "
                                    "quote the whole value")

    def _skip_blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def _line_no(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def _error(self, line: int, why: str) -> UsageError:
        return UsageError(f"env file {self.name}, line {line}: {why}")


def _unescape(raw: str) -> str:
    def one(match: re.Match[str]) -> str:
        return _ESCAPES.get(match.group(1), match.group(0))

    return re.sub(r"\\(.)", one, raw, flags=re.DOTALL)
