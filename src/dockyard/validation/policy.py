"""The pass/fail policy: rules that turn a validation's metrics into a verdict.

A policy is YAML (or the same structure in Python): a list of rules, or a
mapping with ``rules`` and optional ``name`` and ``description``::

    name: churn-release
    rules:
      - accuracy >= 0.85
      - cohort_gap.accuracy <= 0.05
      - robustness.noise_0.1.accuracy_drop < 0.02
      - beats: champion
        max_p_value: 0.05

A rule is either

- a threshold ``"<metric> <op> <number>"``, with ``op`` one of ``>=``, ``>``,
  ``<=``, ``<``, ``==``, ``!=`` (``==`` and ``!=`` allow a relative difference
  of 1e-9); metric names are those the checks produce (``accuracy``,
  ``fairness.demographic_parity_difference`` ...) and may hold dots and
  numbers, but no spaces or operator characters; or
- ``{beats: <name>}``, optionally with ``max_p_value``: the challenger beats
  the model the compare check called ``<name>``: its metric ``<name>.better``
  is 1, and, with ``max_p_value``, ``<name>.p_value`` is at most that.

The policy passes when every rule passes; a rule whose metric was not
measured fails. :meth:`Policy.check_names` refuses a policy naming a metric
no check will produce, before anything runs. :attr:`Policy.digest` identifies
the rules, so a stored validation can be matched to the policy it was judged
under.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from dockyard.errors import InvalidArgument

OPS = (">=", ">", "<=", "<", "==", "!=")
_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_NEGATION = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}
_RULE = re.compile(r"^\s*(?P<metric>[^\s<>=!]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<number>\S+)\s*$")
_EXPECTED = f"expected '<metric> <op> <number>' with op one of {', '.join(OPS)}"
_BEATS_KEYS = ("beats", "max_p_value")
_POLICY_KEYS = ("rules", "name", "description")


class RuleOutcome(BaseModel):
    """How one rule judged the values."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    metric: str
    op: str
    threshold: float | None = None
    value: float | None = None
    """The metric's value; None when it was not measured."""
    passed: bool
    reason: str


class PolicyOutcome(BaseModel):
    """A policy's verdict: passed when every rule passed."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    rules: list[RuleOutcome] = Field(default_factory=list)
    policy: str | None = None
    """The policy's name."""
    digest: str = ""
    """The policy's :attr:`Policy.digest`."""
    summary: str = ""

    @property
    def failed(self) -> list[RuleOutcome]:
        return [r for r in self.rules if not r.passed]


@dataclass(frozen=True)
class Threshold:
    """``<metric> <op> <threshold>``; ``number`` is the threshold as written."""

    metric: str
    op: str
    threshold: float
    number: str

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.number}"

    def canonical(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "threshold": self.threshold}

    def reads(self) -> list[str]:
        return [self.metric]

    def judge(self, values: Mapping[str, Any], why: Any) -> RuleOutcome:
        value = _value(values, self.metric)
        out = {"rule": self.text, "metric": self.metric, "op": self.op,
               "threshold": self.threshold, "value": value}
        if value is None:
            return RuleOutcome(**out, passed=False, reason=f"not measured: {why(self.metric)}")
        passed = _compare(value, self.op, self.threshold)
        a, b = _numbers(value, self.threshold)
        return RuleOutcome(**out, passed=passed,
                           reason=f"{a} {self.op if passed else _NEGATION[self.op]} {b}")


@dataclass(frozen=True)
class Beats:
    """The challenger beats the model ``name`` (significantly, with ``max_p_value``)."""

    name: str
    max_p_value: float | None = None

    @property
    def text(self) -> str:
        limit = f" with p <= {self.max_p_value:g}" if self.max_p_value is not None else ""
        return f"beats {self.name}{limit}"

    def canonical(self) -> dict[str, Any]:
        return {"beats": self.name, "max_p_value": self.max_p_value}

    def reads(self) -> list[str]:
        p_value = [f"{self.name}.p_value"] if self.max_p_value is not None else []
        return [f"{self.name}.better", *p_value]

    def judge(self, values: Mapping[str, Any], why: Any) -> RuleOutcome:
        better_name, p_name = f"{self.name}.better", f"{self.name}.p_value"
        better = _value(values, better_name)
        out = {"rule": self.text, "metric": better_name, "op": "beats",
               "threshold": self.max_p_value, "value": better}
        if better is None:
            return RuleOutcome(**out, passed=False, reason=f"not measured: {why(better_name)}")
        if better != 1.0:
            return RuleOutcome(**out, passed=False,
                               reason=f"not better than {self.name} ({better_name} = {better:g})")
        if self.max_p_value is None:
            return RuleOutcome(**out, passed=True, reason=f"better than {self.name}")
        p_value = _value(values, p_name)
        if p_value is None:
            return RuleOutcome(**out, passed=False, reason=f"not measured: {why(p_name)}")
        passed = p_value <= self.max_p_value
        a, b = _numbers(p_value, self.max_p_value)
        return RuleOutcome(**out, passed=passed, reason=(
            f"better than {self.name}, {p_name} {a} {'<=' if passed else '>'} {b}"))


Rule = Threshold | Beats


class Policy:
    """Rules a validation must pass; build with :meth:`parse`, :meth:`from_yaml` or
    :meth:`load`."""

    def __init__(self, rules: Iterable[Rule], name: str | None = None,
                 description: str | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        if not self.rules:
            raise InvalidArgument("the policy has no rules; give at least one, such as "
                                  "'accuracy >= 0.8'")
        self.name = name
        self.description = description

    @classmethod
    def parse(cls, obj: Any) -> Policy:
        """A policy from a list of rules or a mapping ``{rules, name, description}``."""
        if isinstance(obj, Policy):
            return obj
        name = description = None
        if isinstance(obj, Mapping):
            unknown = [str(k) for k in obj if k not in _POLICY_KEYS]
            if unknown:
                raise InvalidArgument(f"unknown policy keys: {', '.join(unknown)}; a policy "
                                      f"has {', '.join(_POLICY_KEYS)}")
            if "rules" not in obj:
                raise InvalidArgument("the policy has no 'rules' list")
            name, description = obj.get("name"), obj.get("description")
            for key, value in (("name", name), ("description", description)):
                if value is not None and not isinstance(value, str):
                    raise InvalidArgument(f"the policy's {key} must be text, got {value!r}")
            obj = obj["rules"]
        if obj is None:
            raise InvalidArgument("the policy is empty; give a list of rules")
        if not isinstance(obj, (list, tuple)):
            raise InvalidArgument(
                "a policy is a list of rules or a mapping with a 'rules' list, got "
                f"{type(obj).__name__}" + ("; read YAML text with Policy.from_yaml"
                                           if isinstance(obj, str) else ""))
        return cls([_rule(item, i) for i, item in enumerate(obj, start=1)], name, description)

    @classmethod
    def from_yaml(cls, text: str) -> Policy:
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidArgument(f"the policy is not valid YAML{where}: {problem}") from None
        if isinstance(obj, str):
            raise InvalidArgument("the policy is one text value; write its rules as a YAML "
                                  "list, one '- <metric> <op> <number>' a line")
        return cls.parse(obj)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidArgument(f"policy file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"cannot read policy file {str(path)!r}: {exc}") from None
        try:
            return cls.from_yaml(text)
        except InvalidArgument as exc:
            raise InvalidArgument(f"policy file {str(path)!r}: {exc.message}") from None

    # reading ---------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """Every metric a rule reads, in rule order, once each."""
        return list(dict.fromkeys(m for rule in self.rules for m in rule.reads()))

    def check_names(self, available: Iterable[str]) -> None:
        """Refuse (InvalidArgument) a policy reading a metric not in ``available``."""
        known = list(dict.fromkeys(available))
        known_set = set(known)
        unknown = [m for m in self.metric_names() if m not in known_set]
        if not unknown:
            return
        parts = []
        for metric in unknown:
            close = difflib.get_close_matches(metric, known, n=3)
            parts.append(f"{metric!r} (did you mean {' or '.join(map(repr, close))}?)"
                         if close else f"{metric!r} (no close match)")
        raise InvalidArgument(f"the policy names metrics the validation does not produce: "
                              f"{'; '.join(parts)}")

    def evaluate(self, values: Mapping[str, float],
                 errors: Mapping[str, str] | None = None) -> PolicyOutcome:
        """Judge ``values`` (metric name to value). ``errors`` says why metrics are
        missing: keys are metric names or their leading parts (a check's prefix, such as
        ``robustness``), values the reason."""
        errors = errors or {}

        def why(metric: str) -> str:
            parts = metric.split(".")
            for end in range(len(parts), 0, -1):
                if ".".join(parts[:end]) in errors:
                    return str(errors[".".join(parts[:end])])
            if metric in values:
                return f"{metric} is not a number ({values[metric]!r})"
            return f"no check produced {metric}"

        outcomes = [rule.judge(values, why) for rule in self.rules]
        failed = [o for o in outcomes if not o.passed]
        summary = f"{len(outcomes) - len(failed)} of {len(outcomes)} rules passed"
        if failed:
            summary += "; failed: " + "; ".join(f"{o.rule} ({o.reason})" for o in failed)
        return PolicyOutcome(passed=not failed, rules=outcomes, policy=self.name,
                             digest=self.digest, summary=summary)

    @property
    def digest(self) -> str:
        """sha256 of the rules (in order) as canonical JSON; names and spacing do not count."""
        body = json.dumps([rule.canonical() for rule in self.rules], sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The policy as :meth:`parse` reads it back."""
        rules: list[Any] = [
            rule.text if isinstance(rule, Threshold)
            else {k: v for k, v in rule.canonical().items() if v is not None}
            for rule in self.rules]
        out: dict[str, Any] = {"rules": rules}
        if self.name is not None:
            out["name"] = self.name
        if self.description is not None:
            out["description"] = self.description
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and other.to_dict() == self.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Policy(name={self.name!r}, rules={[r.text for r in self.rules]!r})"


def _rule(item: Any, position: int) -> Rule:
    if isinstance(item, str):
        match = _RULE.match(item)
        number = _number(match.group("number")) if match else None
        if match is None or number is None:
            raise InvalidArgument(f"rule {position} {item!r}: {_EXPECTED}")
        return Threshold(match.group("metric"), match.group("op"), number,
                         match.group("number"))
    if isinstance(item, Mapping):
        if "beats" not in item:
            hint = ""
            if len(item) == 1:
                key, value = next(iter(item.items()))
                hint = f"; for a threshold write one string, such as '{key} {value}'"
            raise InvalidArgument(f"rule {position} {dict(item)!r}: a mapping rule needs "
                                  f"'beats' (and optionally 'max_p_value'){hint}")
        unknown = [str(k) for k in item if k not in _BEATS_KEYS]
        if unknown:
            raise InvalidArgument(f"rule {position} {dict(item)!r}: unknown keys "
                                  f"{', '.join(unknown)}; a beats rule has beats, max_p_value")
        name = item["beats"]
        if not isinstance(name, str) or not re.fullmatch(r"[^\s<>=!]+", name):
            raise InvalidArgument(f"rule {position} {dict(item)!r}: beats names the compared "
                                  "model as one word, such as 'champion'")
        limit = item.get("max_p_value")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                                  or not 0 < limit <= 1):
            raise InvalidArgument(f"rule {position} {dict(item)!r}: max_p_value must be a "
                                  f"number in (0, 1], got {limit!r}")
        return Beats(name, None if limit is None else float(limit))
    raise InvalidArgument(f"rule {position} {item!r}: a rule is a string "
                          "'<metric> <op> <number>' or a mapping {beats: <name>, "
                          "max_p_value: <number>}")


def _number(value: Any) -> float | None:
    """``value`` as a float; None for what is not a number, and for NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _value(values: Mapping[str, Any], metric: str) -> float | None:
    return _number(values[metric]) if metric in values else None


def _compare(value: float, op: str, threshold: float) -> bool:
    if op in ("==", "!="):
        return math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12) == (op == "==")
    return _COMPARE[op](value, threshold)


def _numbers(value: float, threshold: float) -> tuple[str, str]:
    """Both numbers short, with enough digits to tell them apart."""
    for digits in (4, 6, 10, 17):
        a, b = f"{value:.{digits}g}", f"{threshold:.{digits}g}"
        if a != b or value == threshold:
            return a, b
    return repr(value), repr(threshold)
