"""What a user without barcodefm runs: load saved folders with ``trust_remote_code`` and record
their outputs. :mod:`barcodefm.release.load_check` runs this file's TEXT in a fresh interpreter
(``python -c``) where ``import barcodefm`` is made to fail, offline; the same
:func:`model_outputs` computes the in-process reference, so both sides measure the same things.

Imports only the standard library, torch and transformers (the file is not imported as part of
barcodefm in the fresh process).
"""

import json
import sys
import traceback


def _tensors(prefix, value):
    """Every tensor inside a model output (ModelOutput / dict / tuple), as float32 on the CPU."""
    import torch

    if isinstance(value, torch.Tensor):
        return {prefix: value.detach().float().cpu()}
    found = {}
    if isinstance(value, dict):  # ModelOutput is an OrderedDict of its non-None fields
        for name, item in value.items():
            found.update(_tensors(f"{prefix}.{name}", item))
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            found.update(_tensors(f"{prefix}.{i}", item))
    return found  # anything else (a recurrent-state cache object) is not an output to compare


def model_outputs(model, tokenizer, sequences):
    """Token ids, every forward output and the pooled embeddings of ``sequences`` (CPU, eval mode;
    cut to the tokenizer's maximum length).

    The RNG is seeded before each call so that models that draw random masks in ``forward``
    (BarcodeMAE pretraining) draw the same ones in every process.
    """
    import torch

    model = model.to("cpu").eval()
    encoded = tokenizer(list(sequences), padding=True, truncation=True, return_tensors="pt")
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    result = {"input_ids": ids, "attention_mask": mask}
    with torch.no_grad():
        torch.manual_seed(0)
        result.update(_tensors("forward", model(input_ids=ids, attention_mask=mask)))
        if hasattr(model, "embed"):
            torch.manual_seed(0)
            result["embed"] = model.embed(ids, mask).detach().float().cpu()
    return result


def main(argv):
    """``argv``: [request JSON, output path]; the request is {"threads": n, "jobs": [...]}, each
    job {"folder", "auto_class", "sequences"}."""
    sys.modules["barcodefm"] = None  # any `import barcodefm` now raises ImportError
    import torch
    import transformers

    request = json.loads(argv[1])
    # The caller's thread count: the same reduction order in both processes, so equal outputs.
    torch.set_num_threads(int(request["threads"]))
    results = {}
    for job in request["jobs"]:
        folder = job["folder"]
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            auto_class = getattr(transformers, job["auto_class"])
            model = auto_class.from_pretrained(folder, trust_remote_code=True)
            model_class = f"{type(model).__module__}.{type(model).__name__}"
            tokenizer_class = f"{type(tokenizer).__module__}.{type(tokenizer).__name__}"
            results[folder] = {
                "outputs": model_outputs(model, tokenizer, job["sequences"]),
                "model_class": model_class,
                "tokenizer_class": tokenizer_class,
            }
        except Exception:  # noqa: BLE001 - reported per folder, with its trace, to the caller
            results[folder] = {"error": traceback.format_exc(limit=-6)}
    torch.save(results, argv[2])


if __name__ == "__main__":
    main(sys.argv)
