"""What both converters do last: save the converted model as a Hub-ready folder, audit it and
load-check it, all in a staging folder that only becomes the output when everything passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .hub_folder import audit_hub_folder, tidy_tokenizer_config
from .load_check import LoadCheckResult, check_folder
from .release import ReleaseRefusedError
from .staging import staged_folder


@dataclass
class ConversionReport:
    output: Path
    source: str  # file names only (no absolute paths in anything that may be published)
    model_class: str
    n_tensors: int
    dropped_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    load_check: LoadCheckResult | None = None

    def summary(self) -> str:
        lines = [f"converted {self.source} -> {self.output} ({self.model_class}, {self.n_tensors} tensors)"]
        if self.dropped_keys:
            lines.append(
                f"dropped {len(self.dropped_keys)} checkpoint entries that are not model weights: "
                + ", ".join(summarize_keys(self.dropped_keys))
            )
        lines.extend(self.notes)
        if self.load_check is not None:
            lines.append(
                f"load check without barcodefm passed ({self.load_check.auto_class}, "
                f"max abs difference {self.load_check.max_abs_diff:.2g})"
            )
        return "\n".join(lines)


def summarize_keys(keys: list[str], limit: int = 6) -> list[str]:
    """``prefix.* (n)`` groups of dropped keys, so a report stays one line."""
    groups: dict[str, int] = {}
    for key in keys:
        prefix = key.split(".")[0] + (".*" if "." in key else "")
        groups[prefix] = groups.get(prefix, 0) + 1
    items = [f"{prefix} ({n})" if n > 1 else prefix for prefix, n in groups.items()]
    return items[:limit] + ([f"... {len(items) - limit} more groups"] if len(items) > limit else [])


def write_converted(model, tokenizer, report: ConversionReport, check: bool = True) -> ConversionReport:
    """Save ``model`` + ``tokenizer`` (+ their code) to ``report.output``; refuse if the folder
    fails the Hub audit or (with ``check``) the load check without barcodefm."""
    with staged_folder(report.output) as staging:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        tidy_tokenizer_config(staging)
        problems = audit_hub_folder(staging)
        if not problems and check:
            report.load_check = check_folder(staging, model, tokenizer)
            problems = report.load_check.problems
        if problems:
            raise ReleaseRefusedError(f"the converted {report.source}", problems)
        report.files = sorted(p.name for p in staging.iterdir())
    if report.load_check is not None:
        report.load_check.folder = report.output
    return report
