"""Linear probe: a linear classifier on frozen embeddings (SPEC 5, seen species).

``method="sgd"`` is the published BarcodeBERT/BarcodeMamba recipe: standardise with ONE scalar
mean and standard deviation taken over every element of the training embeddings, then one
``nn.Linear`` trained with cross-entropy and SGD (lr 1, momentum 0.95, weight decay 1e-10,
200 epochs, shuffled batches of 1024). ``method="sklearn"`` is a faster stand-in:
scikit-learn's ``LogisticRegression`` (lbfgs) on per-feature standardised embeddings.

The label map comes from the training labels only; a test label absent from training can
only be counted wrong.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from .labels import LabelMap, is_known_label
from .metrics import percent_metrics

logger = logging.getLogger(__name__)

METHODS = ("sgd", "sklearn")
# Median per-feature std (after scalar standardisation) below which the sgd probe warns.
SCALAR_STD_WARNING = 0.05


def _as_tensor(embeddings, name: str) -> torch.Tensor:
    x = embeddings if isinstance(embeddings, torch.Tensor) else torch.as_tensor(np.asarray(embeddings))
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, dim) array, got shape {tuple(x.shape)}")
    x = x.detach().to(torch.float32)
    if not torch.isfinite(x).all():
        row = int((~torch.isfinite(x)).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name} row {row} holds NaN or infinite values")
    return x


def _labels_list(labels) -> list:
    return labels.tolist() if hasattr(labels, "tolist") else list(labels)


class LinearProbe:
    """Fit a linear classifier on embeddings; predict labels (``None`` never happens).

    Options of ``method="sgd"``: ``epochs``, ``batch_size``, ``lr``, ``momentum``,
    ``weight_decay`` (published defaults), ``seed`` (initialisation and shuffling), ``device``
    (default: the embeddings' device). Options of ``method="sklearn"``: ``C``, ``max_iter``.
    After ``fit`` with ``"sgd"``, ``mean_`` and ``std_`` hold the scalar standardisation.
    """

    def __init__(
        self,
        method: str = "sgd",
        *,
        epochs: int = 200,
        batch_size: int = 1024,
        lr: float = 1.0,
        momentum: float = 0.95,
        weight_decay: float = 1e-10,
        seed: int = 0,
        device=None,
        progress: bool = True,
        C: float = 1.0,
        max_iter: int = 1000,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown linear-probe method {method!r}; choose one of {', '.join(METHODS)}")
        self.method = method
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.seed, self.device, self.progress = seed, device, progress
        self.C, self.max_iter = C, max_iter
        self.label_map: LabelMap | None = None

    # -- fitting -------------------------------------------------------------------------
    def fit(self, embeddings, labels: Sequence) -> LinearProbe:
        x = _as_tensor(embeddings, "train embeddings")
        labels = _labels_list(labels)
        if len(labels) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} train embeddings but {len(labels)} train labels")
        keep = [i for i, label in enumerate(labels) if is_known_label(label)]
        if len(keep) < len(labels):
            logger.warning("linear probe: %d training sample(s) without a label left out", len(labels) - len(keep))
            x = x[keep]
            labels = [labels[i] for i in keep]
        self.label_map = LabelMap.fit(labels)
        if len(self.label_map) < 2:
            raise ValueError(
                f"a linear probe needs at least two classes in the training labels, got {len(self.label_map)}"
            )
        y = torch.as_tensor(self.label_map.encode(labels))
        if self.method == "sgd":
            self._fit_sgd(x, y)
        else:
            self._fit_sklearn(x, y)
        return self

    def _fit_sgd(self, x: torch.Tensor, y: torch.Tensor) -> None:
        device = torch.device(self.device) if self.device is not None else x.device
        # Published standardisation: one scalar mean and std over all train elements (float64 sums).
        n_elements = x.numel()
        mean = x.sum(dtype=torch.float64) / n_elements
        std = (((x - mean.float()) ** 2).sum(dtype=torch.float64) / n_elements).sqrt()
        if not std > 0:
            raise ValueError("train embeddings are constant (standard deviation 0): nothing to learn")
        self.mean_, self.std_ = float(mean), float(std)
        # The published scalar standardisation fails on embeddings whose features sit at
        # different offsets with little spread each (e.g. mean-pooled LayerNorm outputs): every
        # feature is left nearly constant and the probe learns nothing in 200 epochs.
        spread = float(x.std(dim=0).median()) / self.std_
        if spread < SCALAR_STD_WARNING:
            logger.warning(
                "linear probe (sgd): after the published scalar standardisation the median feature has "
                "standard deviation %.3g (features differ mostly by offset); this probe may learn nothing: "
                "compare method='sklearn' (per-feature standardisation)",
                spread,
            )
        self.feature_spread_ = spread
        x = ((x - self.mean_) / self.std_).to(device)
        y = y.to(device)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # initialisation independent of the caller's RNG state
            layer = torch.nn.Linear(x.shape[1], len(self.label_map))
        layer.to(device)
        optimizer = torch.optim.SGD(
            layer.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        shuffle = torch.Generator().manual_seed(self.seed)
        n = x.shape[0]
        total = 0.0
        bar = trange(self.epochs, desc="linear probe", unit="epoch", disable=not self.progress, leave=False)
        for _ in bar:
            order = torch.randperm(n, generator=shuffle).to(device)
            total = 0.0
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                # One batch holding every sample: the mean loss is the same in any order, so
                # skip the gather.
                xb, yb = (x, y) if len(batch) == n else (x[batch], y[batch])
                loss = F.cross_entropy(layer(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            bar.set_postfix(loss=f"{total / n:.4f}")
        if not np.isfinite(total):
            raise RuntimeError("linear probe diverged (loss is not finite): try a smaller lr")
        self._layer = layer.eval()
        self._device = device

    def _fit_sklearn(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self._pipeline.fit(x.cpu().numpy(), y.numpy())
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.warning("linear probe (sklearn): lbfgs did not converge in %d iterations", self.max_iter)

    # -- prediction ----------------------------------------------------------------------
    def predict(self, embeddings) -> list:
        """Predicted training labels, one per row of ``embeddings``."""
        if self.label_map is None:
            raise RuntimeError("call fit() before predict()")
        x = _as_tensor(embeddings, "embeddings")
        if self.method == "sklearn":
            codes = self._pipeline.predict(x.cpu().numpy())
        else:
            codes = []
            with torch.no_grad():
                for start in range(0, x.shape[0], 8192):
                    block = ((x[start : start + 8192] - self.mean_) / self.std_).to(self._device)
                    codes.append(self._layer(block).argmax(dim=1).cpu())
            codes = torch.cat(codes).numpy() if codes else np.empty(0, dtype=np.int64)
        return self.label_map.decode(codes)


def linear_probe(
    train_embeddings,
    train_labels: Sequence,
    test_embeddings,
    test_labels: Sequence,
    method: str = "sgd",
    **options,
) -> dict[str, float]:
    """Train on ``train_*``, score on ``test_*``: accuracy, balanced accuracy, macro F1 in
    percent, ``n`` (test samples with a known label) and ``n_classes``.

    ``options`` go to :class:`LinearProbe` (``seed``, ``epochs``, ``device``, ...).
    """
    probe = LinearProbe(method, **options).fit(train_embeddings, train_labels)
    test_labels = _labels_list(test_labels)
    predictions = probe.predict(test_embeddings)
    if len(predictions) != len(test_labels):
        raise ValueError(f"{len(predictions)} test embeddings but {len(test_labels)} test labels")
    return {**percent_metrics(test_labels, predictions), "n_classes": len(probe.label_map)}
