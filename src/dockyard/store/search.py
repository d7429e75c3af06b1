"""The run-search filter grammar, parsed into a small AST.

::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key
                | attribute
    key        := bare-key | `back-quoted key` | "double-quoted key"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value      := number | 'string' | "string"

Keywords are case-insensitive. Metrics compare their latest value as
numbers; params and tags compare as strings. Stores compile this AST to
parameterised queries; user text never becomes query text.
Every error is an :class:`~dockyard.errors.InvalidFilter` whose ``position``
points at the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from dockyard.entities import RunStatus
from dockyard.errors import InvalidFilter

ENTITY_ALIASES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}
STRING_ATTRIBUTES = {"id", "name", "status", "user", "parent_id", "experiment_id"}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "duration"}  # duration: end_time - start_time
ATTRIBUTE_ALIASES = {"run_id": "id", "run_name": "name"}
NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
STRING_OPS = {"=", "!=", "like", "ilike"}
MAX_FILTER_LENGTH = 10_000
MAX_NESTING = 20
"""Parentheses nest at most this deep: each level costs stack in this parser and in the
database's SQL parser, whose stack (SQLite's holds about 27 levels) overflows long before
10,000 characters do."""
MAX_ORDER_BY = 20
"""At most this many order-by clauses: each key is one more join, and databases cap joins."""


@dataclass(frozen=True)
class Field:
    entity: str  # metric | param | tag | attribute
    key: str

    @property
    def numeric(self) -> bool:
        return self.entity == "metric" or (
            self.entity == "attribute" and self.key in NUMERIC_ATTRIBUTES
        )


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # = != < <= > >= like ilike in "not in"
    value: float | str | tuple[float | str, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Union[Comparison, BoolOp]


@dataclass(frozen=True)
class OrderBy:
    field: Field
    ascending: bool


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, op, lparen, rparen, comma, dot, backquoted, end
    text: str
    pos: int
    value: object = None


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<sq>'(?:[^'\\]|\\.|'')*')
  | (?P<dq>"(?:[^"\\]|\\.|"")*")
  | (?P<bq>`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-:/]*)
    """,
    re.VERBOSE,
)
# A segment of a bare dotted key may start with a digit: metrics.layer.0.loss
_KEY_SEGMENT_RE = re.compile(r"[A-Za-z0-9_\-:/]+")


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    return body.replace(quote * 2, quote).replace("\\" + quote, quote).replace("\\\\", "\\")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        prev = tokens[-1] if tokens else None
        if text[pos] == "." and prev and prev.kind == "ident" and prev.pos + len(prev.text) == pos:
            # A dot glued to a bare word joins key segments; otherwise ".0" in
            # "metrics.layer.0.loss" would read as the number 0.0.
            tokens.append(_Token("dot", ".", pos, "."))
            pos += 1
            seg = _KEY_SEGMENT_RE.match(text, pos)
            if seg:
                tokens.append(_Token("ident", seg.group(), pos, seg.group()))
                pos = seg.end()
            continue
        m = _TOKEN_RE.match(text, pos)
        if not m:
            snippet = text[pos : pos + 10]
            if text[pos] in "'\"`":
                raise InvalidFilter(
                    f"unterminated quoted text at position {pos}: {snippet!r}",
                    position=pos, token=snippet,
                )
            raise InvalidFilter(
                f"unexpected character {text[pos]!r} at position {pos}", position=pos, token=text[pos]
            )
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "number":
            tokens.append(_Token("number", raw, pos, float(raw)))
        elif kind in ("sq", "dq"):
            tokens.append(_Token("string", raw, pos, _unquote(raw)))
        elif kind == "bq":
            tokens.append(_Token("backquoted", raw, pos, raw[1:-1]))
        elif kind == "op":
            op = {"==": "=", "<>": "!="}.get(raw, raw)
            tokens.append(_Token("op", raw, pos, op))
        elif kind != "ws":
            tokens.append(_Token(kind, raw, pos, raw))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Token | None = None) -> InvalidFilter:
        tok = tok or self.tok
        shown = tok.text or "end of filter"
        return InvalidFilter(
            f"{message} at position {tok.pos} (near {shown!r})", position=tok.pos, token=tok.text
        )

    def is_keyword(self, word: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() == word

    # filter grammar -------------------------------------------------------
    def parse_filter(self) -> Node | None:
        if self.tok.kind == "end":
            return None
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the filter")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_atom()]
        while self.is_keyword("and"):
            self.advance()
            items.append(self.parse_atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_atom(self) -> Node:
        if self.tok.kind == "lparen":
            if self.depth >= MAX_NESTING:
                raise self.error(f"parentheses nest deeper than {MAX_NESTING} levels; "
                                 "remove redundant ones or split the search")
            self.depth += 1
            self.advance()
            node = self.parse_or()
            if self.tok.kind != "rparen":
                raise self.error("expected ')'")
            self.advance()
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_field(self) -> Field:
        tok = self.tok
        if tok.kind not in ("ident", "backquoted", "string"):
            raise self.error("expected a field such as metrics.auc, params.lr, tags.team or status")
        self.advance()
        prefix = str(tok.value).lower()
        if tok.kind == "ident" and self.tok.kind == "dot" and prefix in ENTITY_ALIASES:
            self.advance()
            entity = ENTITY_ALIASES[prefix]
            key_tok = self.tok
            if key_tok.kind not in ("ident", "backquoted", "string", "number"):
                raise self.error(f"expected a key after '{tok.text}.'")
            self.advance()
            key = key_tok.text if key_tok.kind == "number" else str(key_tok.value)
            # bare keys may contain dots: metrics.val.loss
            while key_tok.kind in ("ident", "number") and self.tok.kind == "dot":
                self.advance()
                part = self.tok
                if part.kind not in ("ident", "number"):
                    raise self.error("expected the rest of the key after '.'")
                self.advance()
                key += "." + part.text
            if not key:
                raise self.error("empty key", key_tok)
            if entity == "attribute":
                return self._attribute(key, key_tok)
            return Field(entity, key)
        if tok.kind != "ident":
            raise self.error(
                "a quoted name needs a prefix: metrics.`name`, params.`name` or tags.`name`", tok
            )
        return self._attribute(tok.text, tok)

    def _attribute(self, name: str, tok: _Token) -> Field:
        key = ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if key not in STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES:
            raise self.error(
                f"unknown field {name!r}; use metrics.<key>, params.<key>, tags.<key> or one of "
                + ", ".join(sorted(STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES)),
                tok,
            )
        return Field("attribute", key)

    def parse_value(self, field: Field) -> float | str:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            if not field.numeric:
                raise self.error(
                    f"{_describe(field)} is compared as text; quote the value: '{tok.text}'", tok
                )
            return float(tok.value)  # type: ignore[arg-type]
        if tok.kind == "string":
            self.advance()
            if field.numeric:
                raise self.error(f"{_describe(field)} is a number; compare it with a number", tok)
            value = str(tok.value)
            if field.entity == "attribute" and field.key == "status":
                allowed = {s.value for s in RunStatus}
                if value.upper() not in allowed and "%" not in value and "_" not in value:
                    raise self.error(f"status must be one of {', '.join(sorted(allowed))}", tok)
                value = value.upper() if value.upper() in allowed else value
            return value
        raise self.error("expected a value: a number or a quoted string")

    def parse_comparison(self) -> Comparison:
        field = self.parse_field()
        negate = False
        if self.is_keyword("not"):
            self.advance()
            negate = True
            if not self.is_keyword("in"):
                raise self.error("expected 'in' after 'not'")
        if self.is_keyword("in"):
            self.advance()
            if self.tok.kind != "lparen":
                raise self.error("expected '(' after 'in'")
            self.advance()
            values = [self.parse_value(field)]
            while self.tok.kind == "comma":
                self.advance()
                values.append(self.parse_value(field))
            if self.tok.kind != "rparen":
                raise self.error("expected ',' or ')' in the 'in' list")
            self.advance()
            return Comparison(field, "not in" if negate else "in", tuple(values))
        tok = self.tok
        if tok.kind == "op":
            op = str(tok.value)
        elif tok.kind == "ident" and tok.text.lower() in ("like", "ilike"):
            op = tok.text.lower()
        else:
            raise self.error(
                "expected an operator (=, !=, <, <=, >, >=, like, ilike, in, not in)"
            )
        allowed = NUMERIC_OPS if field.numeric else STRING_OPS
        if op not in allowed:
            raise self.error(
                f"operator {tok.text!r} does not apply to {_describe(field)}; use one of "
                + ", ".join(sorted(allowed)) + ", in, not in",
                tok,
            )
        self.advance()
        return Comparison(field, op, self.parse_value(field))

    # order-by ---------------------------------------------------------------
    def parse_order_by(self) -> OrderBy:
        if self.tok.kind == "end":
            raise self.error("empty order_by clause; give e.g. 'metrics.auc DESC'")
        field = self.parse_field()
        ascending = True
        if self.tok.kind == "ident" and self.tok.text.lower() in ("asc", "desc"):
            ascending = self.advance().text.lower() == "asc"
        if self.tok.kind != "end":
            raise self.error("expected ASC, DESC or the end of the order_by clause")
        return OrderBy(field, ascending)


def _describe(field: Field) -> str:
    if field.entity == "attribute":
        return f"attribute {field.key!r}"
    return f"{field.entity} {field.key!r}"


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; ``None`` or blank means no filter."""
    if text is None or not text.strip():
        return None
    if "\x00" in text:
        pos = text.index("\x00")
        raise InvalidFilter(f"the filter has a NUL character at position {pos}", position=pos, token="")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"filter is longer than {MAX_FILTER_LENGTH:,} characters",
                            position=MAX_FILTER_LENGTH, token="")
    return _Parser(text).parse_filter()


def parse_order_by(clauses: list[str] | None) -> list[OrderBy]:
    """Parse order-by clauses like ``["metrics.auc DESC", "start_time"]``."""
    if not clauses:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    if len(clauses) > MAX_ORDER_BY:
        raise InvalidFilter(f"order_by has {len(clauses)} clauses; sort by at most {MAX_ORDER_BY}",
                            position=0, token="")
    return [_Parser(c).parse_order_by() for c in clauses]
