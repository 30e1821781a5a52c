"""The Hugging Face ``Trainer`` with a second collator for evaluation.

Training batches are augmented (reverse complement, frame offset, epoch-keyed masking);
evaluation and prediction batches must not be, so they get their own collator.
"""

from __future__ import annotations

import contextlib

from transformers import Trainer


class BarcodeTrainer(Trainer):
    def __init__(self, *args, eval_data_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator

    @contextlib.contextmanager
    def _evaluation_collator(self):
        # The DataLoader takes the collator when it is built, so swapping around the build is enough.
        if self.eval_data_collator is None:
            yield
            return
        training_collator = self.data_collator
        self.data_collator = self.eval_data_collator
        try:
            yield
        finally:
            self.data_collator = training_collator

    def get_eval_dataloader(self, eval_dataset=None):
        with self._evaluation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._evaluation_collator():
            return super().get_test_dataloader(test_dataset)
