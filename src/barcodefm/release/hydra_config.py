"""Reading the Hydra ``config.yaml`` saved next to a published Lightning checkpoint.

Hydra stores the composed config WITHOUT resolving its interpolations, so the published files
hold strings such as ``${tokenizer.vocab_size}`` or ``${eval:4 * ${.d_model}}``. OmegaConf's
``eval`` resolver would run arbitrary Python (the published config has one that shells out to
``nvidia-smi``), so this module resolves only what a converter reads, and only safely:

- ``${a.b}`` (absolute), ``${.b}`` / ``${..b}`` (relative to the node holding the value);
- ``${eval:EXPR}`` where EXPR is small arithmetic on numbers (``+ - * / // % **``, parentheses):
  at most ``MAX_EXPRESSION_CHARS`` characters, exponents at most ``MAX_EXPONENT``, every
  intermediate result within +-``MAX_MAGNITUDE`` (a config value is a size or a rate; the bounds
  keep ``${eval:9 ** 9 ** 9}`` from running for hours);
- ``${div_up:a, b}`` (the published ceiling division).

Anything else is an error naming the key, never evaluated.
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path
from typing import Any

_MISSING = object()
# The innermost interpolation: ``${...}`` with no ``${`` / ``}`` inside.
_INNERMOST = re.compile(r"\$\{([^${}]*)\}")
_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = 2**53  # the largest range where floats hold every integer


class HydraConfigError(ValueError):
    """The published config lacks a key or holds a value that cannot be read safely."""


def _arithmetic(expression: str, key: str):
    shown = expression if len(expression) <= 80 else expression[:77] + "..."

    def refuse(why: str) -> HydraConfigError:
        return HydraConfigError(
            f"config key {key!r}: ${{eval:{shown}}} {why}; it is not evaluated (write the number into the config file)"
        )

    def bounded(value):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # complex, NaN
            raise refuse("is not a real number")
        if abs(value) > MAX_MAGNITUDE:
            raise refuse("goes beyond +-2**53 (the limit of a config value)")
        return value

    def evaluate(node):
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return bounded(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            left, right = evaluate(node.left), evaluate(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT and abs(left) not in (0, 1):
                raise refuse(f"has an exponent above {MAX_EXPONENT}")
            try:
                return bounded(_ARITHMETIC[type(node.op)](left, right))
            except ZeroDivisionError:
                raise refuse("divides by zero") from None
            except OverflowError:
                raise refuse("goes beyond +-2**53 (the limit of a config value)") from None
        if isinstance(node, ast.UnaryOp) and type(node.op) in _ARITHMETIC:
            return bounded(_ARITHMETIC[type(node.op)](evaluate(node.operand)))
        raise refuse("is not plain arithmetic (numbers, + - * / // % ** and parentheses only)")

    if len(expression) > MAX_EXPRESSION_CHARS:
        raise refuse(f"is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise HydraConfigError(f"config key {key!r}: cannot parse ${{eval:{shown}}}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):  # absurd nesting, or a NUL byte
        raise refuse("cannot be parsed") from None
    value = evaluate(tree)
    return int(value) if isinstance(value, float) and value.is_integer() else value


class HydraConfig:
    """A loaded Hydra config whose values are read by dotted key, interpolations resolved."""

    def __init__(self, data: dict, source: str = "config.yaml"):
        if not isinstance(data, dict):
            raise HydraConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        self.data = data
        self.source = source

    @classmethod
    def load(cls, path: str | Path) -> HydraConfig:
        import yaml

        path = Path(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise HydraConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls(data, source=str(path))

    def has(self, key: str) -> bool:
        return self._raw(key.split(".")) is not _MISSING

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The resolved value at ``key`` (dotted); ``default`` when absent, else an error naming it."""
        parts = key.split(".")
        raw = self._raw(parts)
        if raw is _MISSING:
            if default is not _MISSING:
                return default
            raise HydraConfigError(f"{self.source}: missing key {key!r}")
        return self._resolve(raw, parts[:-1], key, seen=(key,))

    def first(self, keys: list[str], default: Any = _MISSING) -> Any:
        """The value of the first key present (published layouts vary in naming)."""
        for key in keys:
            if self.has(key):
                return self.get(key)
        if default is not _MISSING:
            return default
        raise HydraConfigError(
            f"{self.source}: missing key {keys[0]!r} (also looked for {', '.join(keys[1:]) or 'nothing else'})"
        )

    def node(self, key: str) -> dict:
        """The mapping at ``key`` with each direct value resolved."""
        raw = self._raw(key.split("."))
        if not isinstance(raw, dict):
            raise HydraConfigError(f"{self.source}: {key!r} is not a section")
        return {name: self.get(f"{key}.{name}") for name in raw}

    def _raw(self, parts: list[str]):
        node = self.data
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    def _resolve(self, value, parent: list[str], key: str, seen: tuple[str, ...]):
        if not isinstance(value, str) or "${" not in value:
            return value
        text = value
        while True:
            match = _INNERMOST.search(text)
            if match is None:
                return text
            resolved = self._interpolate(match.group(1), parent, key, seen)
            if match.span() == (0, len(text)):
                return resolved  # the whole value was one interpolation: keep its type
            text = text[: match.start()] + str(resolved) + text[match.end() :]

    def _interpolate(self, body: str, parent: list[str], key: str, seen: tuple[str, ...]):
        body = body.strip()
        if body.startswith("eval:"):
            return _arithmetic(body[len("eval:") :].strip().strip("'\""), key)
        if body.startswith("div_up:"):
            args = [a.strip() for a in body[len("div_up:") :].split(",")]
            if len(args) != 2:
                raise HydraConfigError(f"config key {key!r}: ${{div_up:...}} needs two numbers, got {body!r}")
            a, b = (_arithmetic(arg, key) for arg in args)
            if b == 0:
                raise HydraConfigError(f"config key {key!r}: ${{{body}}} divides by zero")
            return -(-a // b)
        if ":" in body:
            raise HydraConfigError(f"config key {key!r}: resolver ${{{body}}} is not supported (not evaluated)")
        if body.startswith("."):
            level = len(body) - len(body.lstrip("."))
            base = parent[: len(parent) - (level - 1)] if level > 1 else parent
            target = base + body.lstrip(".").split(".")
        else:
            target = body.split(".")
        dotted = ".".join(target)
        if dotted in seen:
            raise HydraConfigError(f"config key {key!r}: interpolation cycle through {dotted!r}")
        raw = self._raw(target)
        if raw is _MISSING:
            raise HydraConfigError(f"config key {key!r} refers to ${{{body}}}, but {dotted!r} is not in {self.source}")
        return self._resolve(raw, target[:-1], dotted, seen + (dotted,))
