"""Tokens of the packetdrill dialect, with line and column for every token.

Conditional lines (`#ifdef NAME`, `#ifndef`, `#else`, `#endif`) are resolved first against a set of
defined names (STANDARD by default); lines of an inactive branch become blank so line numbers stay
those of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class ScriptSyntaxError(Exception):
    """A script that does not parse: names the file, line and column."""

    def __init__(self, path: Path | str, line: int, column: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"{self.path}:{line}:{column}: {message}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # INT FLOAT HEX WORD STRING BACKQUOTE CODE OPTION ELLIPSIS or the punctuation itself
    text: str
    line: int
    column: int
    offset: int  # into the preprocessed source
    end: int


_PUNCT = "<>()[]{},:=|+*~.-;!"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("HEX", re.compile(r"0[xX][0-9a-fA-F]+")),
    ("FLOAT", re.compile(r"\d+\.\d+|\.\d+")),
    ("INT", re.compile(r"\d+")),
    ("ELLIPSIS", re.compile(r"\.\.\.")),
    ("WORD", re.compile(r"[A-Za-z_][A-Za-z0-9_]*")),
]


def preprocess(text: str, path: Path | str, defines: frozenset[str]) -> str:
    """Blank the lines of inactive `#ifdef` branches (and the directives themselves)."""
    out: list[str] = []
    stack: list[tuple[bool, bool, int]] = []  # (parent active, branch taken, line)
    active = True
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            words = stripped[1:].split()
            directive = words[0] if words else ""
            if directive in ("ifdef", "ifndef"):
                if len(words) != 2:
                    raise ScriptSyntaxError(path, number, 1, f"#{directive} needs one name")
                taken = (words[1] in defines) == (directive == "ifdef")
                stack.append((active, taken, number))
                active = active and taken
            elif directive == "else":
                if not stack:
                    raise ScriptSyntaxError(path, number, 1, "#else without #ifdef")
                parent, taken, opened = stack[-1]
                stack[-1] = (parent, not taken, opened)
                active = parent and not taken
            elif directive == "endif":
                if not stack:
                    raise ScriptSyntaxError(path, number, 1, "#endif without #ifdef")
                active = stack.pop()[0]
            else:
                raise ScriptSyntaxError(path, number, 1, f"unknown directive #{directive}")
            out.append("")
            continue
        out.append(line if active else "")
    if stack:
        raise ScriptSyntaxError(path, stack[-1][2], 1, "#ifdef without #endif")
    return "\n".join(out)


def tokenize(text: str, path: Path | str) -> list[Token]:
    """Split preprocessed source into tokens; comments and white space are dropped."""
    tokens: list[Token] = []
    pos = 0
    line = 1
    line_start = 0
    n = len(text)

    def error(message: str, at: int) -> ScriptSyntaxError:
        return ScriptSyntaxError(path, line, at - line_start + 1, message)

    while pos < n:
        ch = text[pos]
        if ch == "\n":
            line += 1
            pos += 1
            line_start = pos
            continue
        if ch in " \t\r\f\v":
            pos += 1
            continue
        if text.startswith("//", pos):
            end = text.find("\n", pos)
            pos = n if end < 0 else end
            continue
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise error("unterminated /* comment", pos)
            chunk = text[pos : end + 2]
            newlines = chunk.count("\n")
            if newlines:
                line += newlines
                line_start = pos + chunk.rfind("\n") + 1
            pos = end + 2
            continue
        column = pos - line_start + 1
        start_line = line
        if text.startswith("--", pos) and (pos == line_start or not text[line_start:pos].strip()):
            # A header option: --name=value or --name value, to the end of the line.
            end = text.find("\n", pos)
            end = n if end < 0 else end
            tokens.append(Token("OPTION", text[pos:end].strip(), line, column, pos, end))
            pos = end
            continue
        if ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise error("unterminated back-quoted command", pos)
            body = text[pos + 1 : end]
            if "\n" in body:
                raise error("back-quoted command spans lines", pos)
            tokens.append(Token("BACKQUOTE", body, line, column, pos, end + 1))
            pos = end + 1
            continue
        if text.startswith("%{", pos):
            end = text.find("}%", pos + 2)
            if end < 0:
                raise error("unterminated %{ block", pos)
            body = text[pos + 2 : end]
            tokens.append(Token("CODE", body.strip(), start_line, column, pos, end + 2))
            newlines = body.count("\n")
            if newlines:
                line += newlines
                line_start = pos + 2 + body.rfind("\n") + 1
            pos = end + 2
            continue
        if ch == '"':
            end = pos + 1
            while end < n and text[end] != '"':
                if text[end] == "\\":
                    end += 1
                if end < n and text[end] == "\n":
                    raise error("unterminated string", pos)
                end += 1
            if end >= n:
                raise error("unterminated string", pos)
            raw = text[pos + 1 : end]
            value = raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
            tokens.append(Token("STRING", value, line, column, pos, end + 1))
            pos = end + 1
            continue
        for kind, pattern in _PATTERNS:
            m = pattern.match(text, pos)
            if m:
                tokens.append(Token(kind, m.group(), line, column, pos, m.end()))
                pos = m.end()
                break
        else:
            if ch in _PUNCT:
                tokens.append(Token(ch, ch, line, column, pos, pos + 1))
                pos += 1
            else:
                raise error(f"unexpected character {ch!r}", pos)
    tokens.append(Token("EOF", "", line, pos - line_start + 1, pos, pos))
    return tokens
