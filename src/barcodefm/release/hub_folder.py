"""Static checks of a folder about to be published on the Hub (no model is loaded here).

- every ``auto_map`` entry (config.json, tokenizer_config.json) and custom pipeline names a
  module file that is in the folder, and every single-dot import of those modules is too
  (transformers copies exactly those files);
- no Python file in the folder imports barcodefm (a user without it could not load the model)
  or uses a ``..`` relative import;
- the weights are ``.safetensors`` and no pickle (``.bin``, ``.pt``, ``.ckpt``, ``.pkl``) is left;
- no JSON file holds an absolute path (a path of the machine it was made on).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
# Keys that only record how a tokenizer was loaded on this machine; they are not settings.
LOADING_ONLY_TOKENIZER_KEYS = ("is_local", "local_files_only", "name_or_path", "_commit_hash")


def _auto_map_modules(folder: Path) -> list[tuple[str, str]]:
    """(where, module name) for every code target in the folder's JSON configs: ``auto_map``
    entries and the ``impl`` of ``custom_pipelines``."""
    found = []
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        targets = []
        for value in (data.get("auto_map") or {}).values():
            targets += [(f"{name} auto_map", t) for t in (value if isinstance(value, list) else [value])]
        for task in (data.get("custom_pipelines") or {}).values():
            targets.append((f"{name} custom_pipelines", task.get("impl") if isinstance(task, dict) else None))
        # "module.Class" or "repo--module.Class" (a code file hosted in another repo)
        found += [(where, str(t).split("--")[-1].rsplit(".", 1)[0]) for where, t in targets if t]
    return found


def _import_problems(path: Path, folder: Path) -> list[str]:
    problems = []
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError as exc:
        return [f"{path.name}: not valid Python ({exc.msg}, line {exc.lineno})"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "barcodefm":
                    problems.append(f"{path.name}: `import {alias.name}` (users without barcodefm cannot load it)")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] == "barcodefm":
                problems.append(
                    f"{path.name}: `from {node.module} import ...` (users without barcodefm cannot load it)"
                )
            elif node.level > 1:
                problems.append(
                    f"{path.name}: `from {'.' * node.level}{node.module or ''} import ...` "
                    "(only single-dot imports survive the copy to the Hub)"
                )
            elif node.level == 1 and node.module and not (folder / f"{node.module}.py").is_file():
                problems.append(f"{path.name}: imports .{node.module}, but {node.module}.py is not in the folder")
    return problems


def _absolute_paths(value, where: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _absolute_paths(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _absolute_paths(item, f"{where}[{i}]")
    elif isinstance(value, str) and (value.startswith(("/", "~/", "\\\\")) or _WINDOWS_PATH.match(value)):
        yield where, value


def audit_hub_folder(folder: str | Path) -> list[str]:
    """Everything that would make ``folder`` a broken or unsafe Hub upload (empty = fine)."""
    folder = Path(folder)
    problems = []
    if not (folder / "config.json").is_file():
        return [f"{folder} has no config.json"]
    modules = _auto_map_modules(folder)
    if not any(source == "config.json auto_map" for source, _ in modules):
        problems.append("config.json has no auto_map: the Hub cannot load the model with trust_remote_code")
    for source, module in modules:
        if not (folder / f"{module}.py").is_file():
            problems.append(f"{source} needs {module}.py, which is not in the folder")
    for path in sorted(folder.glob("*.py")):
        problems.extend(_import_problems(path, folder))
    if not any(folder.glob("*.safetensors")):
        problems.append("no .safetensors weights in the folder")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
            problems.append(f"{path.relative_to(folder)} is a pickle file: publish safetensors only")
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(f"{path.name} is not valid JSON: {exc}")
            continue
        for where, value in _absolute_paths(data, path.name):
            problems.append(f"{where} holds an absolute path ({value!r}): it would not exist on a user's machine")
    return problems


def tidy_tokenizer_config(folder: str | Path) -> list[str]:
    """Drop the keys that only record how the tokenizer was loaded here (``is_local``,
    ``local_files_only``, ...) from ``tokenizer_config.json``; returns the keys removed."""
    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    removed = [key for key in LOADING_ONLY_TOKENIZER_KEYS if key in data]
    if removed:
        for key in removed:
            del data[key]
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return removed
