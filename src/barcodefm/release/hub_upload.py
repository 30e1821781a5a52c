"""Uploading a checked release folder to the Hugging Face Hub (``barcodefm release --push``)."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


class HubUploadError(RuntimeError):
    """The upload cannot start (no token, offline mode) or failed (network, refused token); the
    message is one line and says what to do."""


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a Hub call raises when the network or the Hub fails: OSError (huggingface_hub's
    HTTP errors and offline errors are OSErrors), and the HTTP client's own errors (httpx in
    huggingface_hub >= 1, requests before), whichever is installed."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (
        ("huggingface_hub.errors", "HfHubHTTPError"),
        ("httpx", "HTTPError"),
        ("httpx2", "HTTPError"),
        ("requests.exceptions", "RequestException"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _status_code(exc: BaseException) -> int | None:
    try:  # httpx raises on .response when the error carries none
        return getattr(getattr(exc, "response", None), "status_code", None)
    except Exception:  # noqa: BLE001
        return None


def upload_failure(exc: BaseException, folder: str | Path, repo_id: str) -> HubUploadError:
    """One line for a failed upload: what went wrong and how to finish it later."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    status = _status_code(exc)
    if status in (401, 403):
        why = (
            f"the Hub refused the token (HTTP {status}): check that it is valid and can write to "
            f"{repo_id.split('/')[0]} (`hf auth login` or HF_TOKEN)"
        )
    elif status is not None:
        why = f"the Hub answered HTTP {status}"
    else:
        why = "the Hub could not be reached (check the network connection)"
    return HubUploadError(
        f"upload of {folder} to {repo_id} failed: {why} ({detail}); the folder is complete: "
        f"upload it later with `hf upload {repo_id} {folder} .`"
    )


def push_folder(folder: str | Path, repo_id: str, private: bool = False, commit_message: str | None = None) -> str:
    """Create ``repo_id`` if needed (``exist_ok``) and upload ``folder`` to it; returns the commit URL.

    The token comes from the usual places (``HF_TOKEN``, ``hf auth login``) through
    ``huggingface_hub.get_token()``.
    """
    import huggingface_hub

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise HubUploadError("HF_HUB_OFFLINE is set: unset it to upload to the Hub")
    token = huggingface_hub.get_token()
    if not token:
        raise HubUploadError(
            "no Hugging Face token found: run `hf auth login` or set HF_TOKEN (a token with write access), "
            "then rerun with --push"
        )
    try:
        api = huggingface_hub.HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(folder),
            commit_message=commit_message or "Upload model released with barcodefm",
        )
    except _network_errors() as exc:
        raise upload_failure(exc, folder, repo_id) from None
    url = getattr(commit, "commit_url", None) or str(commit)
    logger.info("uploaded %s to %s", folder, url)
    return url
