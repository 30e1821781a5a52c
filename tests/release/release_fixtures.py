"""Fixtures shared by the release/convert tests, imported by name into each test module (a
conftest.py here would shadow tests/conftest.py for the modules that `from conftest import`)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def short_barcodes() -> list[str]:
    """Two real COI barcodes from the bundled sample, cut short (CPU-fast forwards), different lengths."""
    from barcodefm.release import check_barcodes

    full = check_barcodes(3)
    return [full[0][:120], full[1][:75]]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests run small forwards; on the shared 2-core machine a second thread only adds
    synchronisation stalls (20x slower when the cores are busy). The load check's fresh process
    follows the caller's thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
