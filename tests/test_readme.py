"""The README's quick start runs as written, and its set-up commands are the ones CI uses."""

from __future__ import annotations

import contextlib
import logging
import re

from conftest import REPO_ROOT


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@contextlib.contextmanager
def transformers_warnings():
    """The warnings transformers logs meanwhile (its logger does not propagate to pytest's)."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def test_quick_start_runs(tmp_path, monkeypatch, capfd):
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = python_blocks(section)
    assert blocks, "the README has a python quick start"
    monkeypatch.chdir(tmp_path)
    with transformers_warnings() as warnings:
        for block in blocks:
            exec(compile(block, "README quick start", "exec"), {"__name__": "__readme__"})
    # a newcomer running it must not meet transformers' "LOAD REPORT ... UNEXPECTED" table
    shown = "\n".join(warnings) + capfd.readouterr().err
    assert "LOAD REPORT" not in shown and "UNEXPECTED" not in shown, shown


def test_bundled_model_loads_without_a_load_report(capfd):
    # As the README says: AutoModel.from_pretrained(bundled_model_path(...), trust_remote_code=True).
    from transformers import AutoModel

    from barcodefm.registry import bundled_model_path

    with transformers_warnings() as warnings:
        AutoModel.from_pretrained(bundled_model_path("coi-insect"), trust_remote_code=True)
    shown = "\n".join(warnings) + capfd.readouterr().err
    assert "LOAD REPORT" not in shown and "UNEXPECTED" not in shown, shown


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme.split("## Set up", 1)[1].split("\n## ", 1)[0], flags=re.S)
    assert len(commands) == 2, "exactly two set-up commands: the main job and the tests"
    assert "--model coi-insect" in commands[0] and "--model its-fungi" in commands[0]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
