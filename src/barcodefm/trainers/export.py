"""Writing the Hub-ready model folder at the end of a run."""

from __future__ import annotations

import logging
from pathlib import Path

from .distributed import barrier, is_main_process

logger = logging.getLogger(__name__)


def trained_model(trainer):
    """The trained model without its DDP wrapper; a LoRA model is merged into plain weights."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    return model


def export_model(trainer, tokenizer, directory, adapter_dir=None):
    """Save ``config.json`` + ``model.safetensors`` + the model code (``trust_remote_code``)
    + the tokenizer into ``directory``; with LoRA also the bare adapter in ``adapter_dir``.

    Returns the exported (unwrapped, merged) model.
    """
    from peft import PeftModel

    directory = Path(directory)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(model, PeftModel) and adapter_dir is not None and is_main_process():
        model.save_pretrained(str(adapter_dir))
    model = trained_model(trainer)
    if is_main_process():
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(directory))
        tokenizer.save_pretrained(str(directory))
        logger.info("saved the model to %s", directory)
    barrier()
    return model
