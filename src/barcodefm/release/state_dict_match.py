"""Strict comparison of a converted state dict with the parameters a model expects.

The published loaders used ``load_state_dict(strict=False)`` and silently kept random weights for
every key they missed. Conversion instead refuses any difference and lists all of them (missing
keys, unexpected keys, shape mismatches) in one readable message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StateDictDiff:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatches: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (key, expected, found)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shape_mismatches)

    def report(self, limit: int = 20) -> str:
        lines = []

        def section(title, items):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items[:limit])
                if len(items) > limit:
                    lines.append(f"  ... and {len(items) - limit} more")

        section("missing from the checkpoint", self.missing)
        section("unexpected in the checkpoint", self.unexpected)
        section(
            "shape mismatches (key: expected -> found)",
            [f"{key}: {tuple(expected)} -> {tuple(found)}" for key, expected, found in self.shape_mismatches],
        )
        return "\n".join(lines)


class StateDictMismatchError(ValueError):
    def __init__(self, what: str, diff: StateDictDiff, hint: str = ""):
        self.diff = diff
        message = f"{what} does not match the model:\n{diff.report()}"
        if hint:
            message += f"\n{hint}"
        super().__init__(message)


def compare_state_dicts(expected: dict, found: dict) -> StateDictDiff:
    """Differences between the expected ``{key: tensor or shape}`` and the ``found`` tensors."""

    def shape(value):
        return tuple(value.shape) if hasattr(value, "shape") else tuple(value)

    diff = StateDictDiff(
        missing=sorted(set(expected) - set(found)),
        unexpected=sorted(set(found) - set(expected)),
    )
    for key in sorted(set(expected) & set(found)):
        if shape(expected[key]) != shape(found[key]):
            diff.shape_mismatches.append((key, shape(expected[key]), shape(found[key])))
    return diff


def load_strictly(model, state_dict: dict, what: str = "the checkpoint", hint: str = "") -> None:
    """Copy ``state_dict`` into ``model`` only if keys and shapes match exactly."""
    diff = compare_state_dicts(model.state_dict(), state_dict)
    if diff:
        raise StateDictMismatchError(what, diff, hint)
    model.load_state_dict(state_dict, strict=True)
