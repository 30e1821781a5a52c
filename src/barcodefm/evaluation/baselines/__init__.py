"""Classic (non-neural) barcode identification baselines on the same splits as the models.

BLAST+ and VSEARCH are external programs from the Debian packages ``ncbi-blast+`` and
``vsearch``; the k-mer 1-NN needs nothing beyond numpy/scipy/torch.
"""

from .blast import blast_top_hits, strip_seqid_prefix
from .executables import MissingExecutableError, require_executable
from .kmer import kmer_count_matrix, kmer_top_hits
from .results import SintaxResult, TopHitResult
from .vsearch import SINTAX_RANK_LETTERS, sintax_classify, sintax_headers, vsearch_top_hits

__all__ = [
    "MissingExecutableError",
    "SINTAX_RANK_LETTERS",
    "SintaxResult",
    "TopHitResult",
    "blast_top_hits",
    "kmer_count_matrix",
    "kmer_top_hits",
    "require_executable",
    "sintax_classify",
    "sintax_headers",
    "strip_seqid_prefix",
    "vsearch_top_hits",
]
