"""The README's quick start runs as written, and its set-up commands are the ones CI uses."""

from __future__ import annotations

import re

from conftest import REPO_ROOT


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_quick_start_runs(tmp_path, monkeypatch):
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = python_blocks(section)
    assert blocks, "the README has a python quick start"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README quick start", "exec"), {"__name__": "__readme__"})


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme.split("## Set up", 1)[1].split("\n## ", 1)[0], flags=re.S)
    assert len(commands) == 2, "exactly two set-up commands: the main job and the tests"
    assert "--model coi-insect" in commands[0] and "--model its-fungi" in commands[0]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
