"""The README card of an index folder: what it holds and how it was made, with Hub metadata, so an
index can be released to the Hugging Face Hub next to the model it belongs to."""

from __future__ import annotations

from pathlib import Path

CARD_FILE = "README.md"


def card_text(info: dict) -> str:
    search = info["search"]
    kind = {
        "flat": "exact search (FAISS `IndexFlatIP`)",
        "hnsw": f"approximate search (FAISS `IndexHNSWFlat`, M={search.get('M')}, efSearch={search.get('ef_search')})",
        "ivf": f"approximate search (FAISS `IndexIVFFlat`, nlist={search.get('nlist')}, nprobe={search.get('nprobe')})",
    }[search["kind"]]
    ranks = "\n".join(
        f"| {r} | {info['labels_per_rank'][r]:,} | {info['labelled_per_rank'][r]:,} |" for r in info["ranks"]
    )
    sources = "\n".join(f"| {s['file']} | {s['records']:,} | {s['skipped']:,} |" for s in info.get("sources", []))
    commands = "\n".join(info.get("commands", []))
    unlabelled = info.get("unlabelled_references", 0)
    barcodes = f"{info['n_references']:,} " + (
        f"DNA barcodes ({unlabelled:,} without a label at any rank: found as neighbours, no vote)"
        if unlabelled
        else "labelled DNA barcodes"
    )
    return f"""---
library_name: barcodefm
tags:
- barcodefm
- dna-barcoding
- reference-index
- faiss
base_model: {info["model"]}
---

# Reference index for `{info["model"]}`

{barcodes} embedded by the model `{info["model"]}` (weights
SHA-256 `{info["model_sha256"][:16]}...`; {bases(info)}, {info["pooling"]} pooling),
searched by cosine similarity with {kind}. Only that model's embeddings can be searched here:
`barcodefm` refuses another model with an error.

| rank | distinct labels | references labelled |
|---|---|---|
{ranks}

| source file | records read | skipped |
|---|---|---|
{sources}

## Use

```
barcodefm classify QUERIES.fasta --model {info["model"]} --index THIS_FOLDER -o calls.tsv
barcodefm index info THIS_FOLDER
barcodefm index add THIS_FOLDER MORE_REFERENCES.tsv
```

Each query gets its nearest references (ids, labels, similarities), a per-rank call from their
similarity-weighted vote, and a call combining it with the model's own.

## How it was built

```
{commands}
```

Files: `index.json` (settings), `index.faiss` (the search index), `embeddings/` (the embeddings in
safetensors shards, with ids and labels), `ids.txt`, `labels.safetensors`, `label_names.json`.
"""


def bases(info: dict) -> str:
    """How much of each barcode the model read: its fine-tuning length, or all of it."""
    return f"first {info['max_length']} bases" if info.get("max_length") else "whole barcodes"


def write_card(folder: str | Path, info: dict) -> Path:
    path = Path(folder) / CARD_FILE
    path.write_text(card_text(info), encoding="utf-8")
    return path
