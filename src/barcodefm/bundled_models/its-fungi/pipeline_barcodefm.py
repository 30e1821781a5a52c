"""The ``barcode-classification`` pipeline task: a barcode string in, a name per rank out.

Hub module: taxonomy model folders carry it (see ``custom_pipelines`` in their config.json), so
``pipeline("barcode-classification", model=DIR, trust_remote_code=True)`` works without
barcodefm; with barcodefm imported the task is also registered in-process.
"""

from __future__ import annotations

from transformers import Pipeline

PIPELINE_TASK = "barcode-classification"


class BarcodeClassificationPipeline(Pipeline):
    """Returns, per barcode, ``{"labels": {rank: name}, "probs": {rank: p}, "consistent": bool,
    "inconsistent_ranks": [...]}`` (the same dicts as ``model.predict_taxonomy``); ``min_prob``
    truncates the assignment SINTAX-style."""

    def __init__(self, model, *args, **kwargs):
        if not hasattr(model, "predict_from_logits"):
            raise ValueError(
                f"the barcode-classification task needs a taxonomic classifier, got {type(model).__name__}"
            )
        super().__init__(model, *args, **kwargs)

    def _sanitize_parameters(self, min_prob=None, **kwargs):
        postprocess = {} if min_prob is None else {"min_prob": min_prob}
        return {}, {}, postprocess

    def preprocess(self, sequence):
        return self.tokenizer(sequence, return_tensors="pt")

    def _forward(self, model_inputs):
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, model_outputs, min_prob=None):
        # The model's own predict: its module, not a second copy loaded beside this file.
        return self.model.predict_from_logits(model_outputs["logits"], min_prob=min_prob)[0]
