"""`barcodefm serve`: its help stays light, it binds to this machine unless told otherwise (and then
warns), and its options fail with one clear line."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import pytest

from barcodefm.cli import main


def test_help_imports_neither_torch_nor_the_web_libraries():
    # The command's own module and options (tests/cli/test_startup_is_light.py checks the whole parser).
    probe = (
        "import argparse, json, sys\nfrom barcodefm.commands import serve\n"
        "p = argparse.ArgumentParser(prog='barcodefm serve', description=serve.HELP)\nserve.add_arguments(p)\n"
        "p.print_help()\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'sklearn', 'starlette', 'uvicorn') if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--max-upload-mb" in proc.stdout and "127.0.0.1" in proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("192.0.2.7", False)],
)
def test_is_loopback(host, loopback):
    pytest.importorskip("starlette")
    from barcodefm.serve.app import is_loopback

    assert is_loopback(host) is loopback


class _StubIdentifier:
    ranks, has_novelty = ["genus"], False

    def __init__(self, model, device=None, trust_remote_code=False):
        self.model = model

    def describe(self):
        return {"model": self.model, "ranks": self.ranks}

    def reference_map(self):
        return None


@pytest.mark.parametrize(
    "host, bound, url",
    [
        ("127.0.0.1", "127.0.0.1", "http://127.0.0.1:8123/"),
        ("::1", "::1", "http://[::1]:8123/"),
        ("[::1]", "::1", "http://[::1]:8123/"),
        ("0.0.0.0", "0.0.0.0", "http://127.0.0.1:8123/"),
    ],
)
def test_binds_where_told_and_warns_off_loopback(monkeypatch, caplog, capsys, host, bound, url):
    pytest.importorskip("starlette")
    uvicorn = pytest.importorskip("uvicorn")
    from barcodefm.serve import app as app_module
    from barcodefm.serve import identifier

    calls, options = [], {}
    real_create_app = app_module.create_app
    monkeypatch.setattr(
        app_module, "create_app", lambda ident, **kw: options.update(kw) or real_create_app(ident, **kw)
    )
    monkeypatch.setattr(identifier, "Identifier", _StubIdentifier)
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: calls.append((app, host, port)))
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--host", host, "--port", "8123", "--upload-timeout", "5"]) == 0
    app, bound_to, port = calls[0]
    assert (bound_to, port) == (bound, 8123)
    warned = [r.getMessage() for r in caplog.records if "not a loopback address" in r.getMessage()]
    assert bool(warned) is (host == "0.0.0.0")
    assert (options["bind_host"], options["upload_timeout"]) == (bound, 5.0)
    # Requests must name this machine; off loopback, any of its addresses (never a foreign name).
    assert "localhost" in app.allowed_hosts and "evil.example" not in app.allowed_hosts
    assert ("192.0.2.7" in app.allowed_hosts) is (host == "0.0.0.0")
    assert f"ready on {url} " in capsys.readouterr().out
    app.state.queue.close()
    shutil.rmtree(app.state.temp_root)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["serve", "--model", "coi-insekt"], "did you mean 'coi-insect'"),
        (["serve", "--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
        (["serve", "--queue-size", "0"], "--queue-size >= 1"),
        (["serve", "--upload-timeout", "0"], "--upload-timeout must be > 0"),
    ],
)
def test_bad_options_fail_with_one_line(argv, words, capsys):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
