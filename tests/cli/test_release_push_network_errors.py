"""`barcodefm release --push`: a network failure or a refused token ends in one line saying what
went wrong and how to finish the upload, never a traceback (no network is used here)."""

from __future__ import annotations

import importlib

import pytest

from barcodefm.cli import main
from barcodefm.release import HubUploadError, push_folder

REPO_ID = "bioscan-test/barcodemamba-tiny"


def connect_error():
    """What huggingface_hub raises with no network: the HTTP client's ConnectError."""
    for module in ("httpx", "httpx2"):
        try:
            httpx = importlib.import_module(module)
        except ImportError:
            continue
        return httpx.ConnectError("[Errno -3] Temporary failure in name resolution\n(more lines)")
    requests = pytest.importorskip("requests")
    return requests.exceptions.ConnectionError("Max retries exceeded with url: /api/repos/create")


def unauthorized():
    """What huggingface_hub raises when the Hub refuses the token."""
    from huggingface_hub.errors import HfHubHTTPError

    url = "https://huggingface.co/api/repos/create"
    for module in ("httpx", "httpx2"):
        try:
            httpx = importlib.import_module(module)
        except ImportError:
            continue
        response = httpx.Response(401, request=httpx.Request("POST", url))
        return HfHubHTTPError("401 Client Error: Unauthorized for url\nInvalid credentials", response=response)
    requests = pytest.importorskip("requests")
    response = requests.Response()
    response.status_code, response.url = 401, url
    return HfHubHTTPError("401 Client Error: Unauthorized for url\nInvalid credentials", response=response)


def failing_api(error, stage):
    class FailingApi:
        def __init__(self, token):
            pass

        def create_repo(self, repo_id, **kwargs):
            if stage == "create_repo":
                raise error

        def upload_folder(self, **kwargs):
            raise error

    return FailingApi


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_bad_token")

    def install(error, stage="create_repo"):
        monkeypatch.setattr(huggingface_hub, "HfApi", failing_api(error, stage))

    return install


@pytest.mark.parametrize(
    "make_error, stage, words",
    [
        (connect_error, "create_repo", "could not be reached"),
        (connect_error, "upload_folder", "could not be reached"),
        (lambda: OSError("[Errno 101] Network is unreachable"), "upload_folder", "could not be reached"),
        (unauthorized, "create_repo", "refused the token (HTTP 401)"),
    ],
)
def test_push_failure_is_a_hub_upload_error(tmp_path, hub, make_error, stage, words):
    hub(make_error(), stage)
    with pytest.raises(HubUploadError) as info:
        push_folder(tmp_path, REPO_ID)
    message = str(info.value)
    assert "\n" not in message and words in message
    assert REPO_ID in message and f"hf upload {REPO_ID} {tmp_path}" in message


def test_release_push_without_network_prints_one_line(tmp_path, hub, monkeypatch, capsys):
    class FakeReport:  # the release itself is tested elsewhere: here only the push
        output, files, n_metrics = tmp_path, ["config.json"], 0
        load_check = type("Check", (), {"auto_class": "AutoModel", "max_abs_diff": 0.0})()

    monkeypatch.setattr("barcodefm.release.release_model", lambda *a, **k: FakeReport())
    hub(connect_error())
    assert main(["release", str(tmp_path), "--repo-id", REPO_ID, "--output", str(tmp_path / "o"), "--push"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("barcodefm release: error: upload of")
    assert "ConnectError" in lines[0] or "ConnectionError" in lines[0]
