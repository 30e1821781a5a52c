"""Uploading a checked release folder to the Hugging Face Hub (``barcodefm release --push``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


class HubUploadError(RuntimeError):
    """The upload cannot start (no token, offline mode); the message says what to do."""


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
    api = huggingface_hub.HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        commit_message=commit_message or "Upload model released with barcodefm",
    )
    url = getattr(commit, "commit_url", None) or str(commit)
    logger.info("uploaded %s to %s", folder, url)
    return url
