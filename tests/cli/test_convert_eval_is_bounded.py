"""`barcodefm convert`: a Hydra ``${eval:...}`` is small arithmetic only; a huge or hostile
expression is refused at once, in one line naming it, instead of running for hours."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import barcodefm.release.hydra_config as hydra_config
from barcodefm.cli import main
from barcodefm.release.hydra_config import HydraConfig, HydraConfigError


def test_power_tower_is_refused_within_seconds():
    """In a child process with a time limit: before the fix ``9 ** 9 ** 9`` never returned."""
    code = textwrap.dedent(f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("hydra_config", {hydra_config.__file__!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        try:
            module.HydraConfig({{"model": {{"d_model": "${{eval:9 ** 9 ** 9}}"}}}}).get("model.d_model")
        except module.HydraConfigError as exc:
            print("refused:", exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "9 ** 9 ** 9" in result.stdout


@pytest.mark.parametrize(
    "expression, why",
    [
        ("9 ** 9 ** 9", "exponent"),
        ("10 ** 20", "2**53"),
        ("99999999 * 99999999 * 99999999", "2**53"),
        ("1e308 * 10", "2**53"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 / 0", "divides by zero"),
        ("__import__('os').getcwd()", "not plain arithmetic"),
        ("d_model * 4", "not plain arithmetic"),
        ("(" * 150 + "1" + ")" * 150, "longer than"),
    ],
)
def test_eval_outside_small_arithmetic_is_refused_naming_it(expression, why):
    with pytest.raises(HydraConfigError, match="model.x") as info:
        HydraConfig({"model": {"x": "${eval:" + expression + "}"}}).get("model.x")
    message = str(info.value)
    assert why in message and "\n" not in message
    assert expression[:40] in message  # the expression (or its start, when long) is named


def test_small_arithmetic_still_resolves():
    cfg = HydraConfig(
        {
            "m": {
                "d": 384,
                "inner": "${eval:4 * ${.d}}",
                "v": "${eval:4 ** 6 + 3}",
                "p": "${eval:2 ** -2}",
                "q": "${eval:-(7 // 2) % 5}",
                "up": "${div_up:1_000_000_000, 660}",
            }
        }
    )
    assert [cfg.get(f"m.{k}") for k in ("inner", "v", "p", "q", "up")] == [1536, 4099, 0.25, 2, 1_515_152]
    with pytest.raises(HydraConfigError, match="divides by zero"):
        HydraConfig({"m": {"up": "${div_up:10, 0}"}}).get("m.up")


def test_convert_command_prints_one_line(tmp_path, capsys):
    src = tmp_path / "run"
    (src / ".hydra").mkdir(parents=True)
    (src / ".hydra" / "config.yaml").write_text("model:\n  d_model: ${eval:9 ** 9 ** 9}\n  n_layer: 2\n")
    (src / "last.ckpt").write_bytes(b"never read")
    assert main(["convert", "barcodemamba", str(src), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("barcodefm convert: error:")
    assert "model.d_model" in lines[0] and "9 ** 9 ** 9" in lines[0]
