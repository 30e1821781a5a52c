"""The Hub modules: every ``.py`` file in this folder (this one excepted) travels with the weights.

``save_pretrained`` copies the modules a folder's ``auto_map`` names (``configuration_*``,
``modeling_*``, ``tokenization_*``) next to the weights, with the siblings they import (taxonomy
models also carry ``pipeline_barcodefm.py``), so a saved model loads with ``trust_remote_code=True``
where barcodefm is not installed. Hence the rules every module here obeys:

* flat: siblings are imported with single-dot relative imports only (``from .dna import ...``);
* at top level, only the standard library, ``torch``, ``transformers`` and ``numpy`` (optional
  kernels such as ``mamba_ssm`` are imported lazily, inside ``try/except ImportError``);
* never barcodefm's tooling: the command line, data readers, trainers, inference, evaluation and
  release code live in the sibling packages and may import from here, never the reverse.

The old paths (``barcodefm.modeling_barcodemamba``, ``barcodefm.dna``, ...) still import these same
module objects (see :mod:`barcodefm._lazy`). This file stays empty of imports: importing one Hub
module never imports the others.
"""
