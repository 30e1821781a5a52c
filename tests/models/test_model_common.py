"""Invariants every registered model class keeps, whatever its family or head (one tester, in the
manner of transformers' ``ModelTesterMixin``): save/load, loading without barcodefm, padding and
batch invariance, ``return_dict=False``, determinism, a training step, hidden states, building from
a fresh config.

The cases are read from the Auto classes: every barcodefm config registered with them (one tiny
config per family below) x every model class an Auto class maps that config to. What is specific
to one family (scan parity, what the MAE encoder sees, losses' fine print) stays in its own file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import transformers
from conftest import coi_sample_records
from transformers import PretrainedConfig, PreTrainedModel

import barcodefm
from barcodefm import (
    BarcodeCharTokenizer,
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMambaConfig,
    config_from_tokenizer,
)
from barcodefm.models.taxonomy import TaxonomySpec
from barcodefm.release import fresh_loader
from barcodefm.release.load_check import compare_outputs, outputs_without_barcodefm

ATOL = 1e-5

# A small real tree (COI: order > family > genus) for the taxonomic heads: 2, 3 and 4 classes.
TREE = TaxonomySpec.from_columns(
    {
        "order": ["Coleoptera", "Coleoptera", "Lepidoptera", "Lepidoptera"],
        "family": ["Carabidae", "Carabidae", "Crambidae", "Noctuidae"],
        "genus": ["Abax", "Carabus", "Pyrausta", "Noctua"],
    }
).to_dict()
HEAD_CONFIG = dict(num_labels=3, taxonomy=TREE)


@dataclass(frozen=True)
class Family:
    """A tiny config of one model family and the tokenizer its models read."""

    config_class: type
    tokenizer: type
    tokenizer_kwargs: dict
    config_kwargs: dict

    def make_tokenizer(self):
        return self.tokenizer(**self.tokenizer_kwargs)

    def make_config(self):
        return config_from_tokenizer(
            self.make_tokenizer(), config_class=self.config_class, **self.config_kwargs, **HEAD_CONFIG
        )


# BarcodeMamba twice: its Mamba-1 and Mamba-2 mixers are different code paths.
MAMBA = dict(d_model=32, n_layer=2, headdim=16, d_intermediate=64, torch_chunk_size=16)
FAMILIES = {
    "mamba1": Family(BarcodeMambaConfig, BarcodeCharTokenizer, {}, dict(MAMBA, mamba_version=1, d_state=8)),
    "mamba2": Family(BarcodeMambaConfig, BarcodeCharTokenizer, {}, dict(MAMBA, mamba_version=2, d_state=16)),
    "mae": Family(
        BarcodeMAEConfig,
        BarcodeKmerTokenizer,
        {"k": 4},
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            decoder_hidden_size=24,
            decoder_num_hidden_layers=1,
            decoder_num_attention_heads=2,
            decoder_intermediate_size=48,
            max_position_embeddings=64,
        ),
    ),
}


def registered_heads(config_class) -> dict[type, tuple[str, ...]]:
    """{model class: names of the Auto classes that map ``config_class`` to it}, as registered."""
    found: dict[type, list[str]] = {}
    for name in sorted(n for n in dir(transformers) if n.startswith("AutoModel")):
        mapping = getattr(getattr(transformers, name), "_model_mapping", None)  # what register() fills
        if mapping is None or config_class not in mapping:
            continue
        classes = mapping[config_class]
        for model_class in classes if isinstance(classes, tuple) else (classes,):
            found.setdefault(model_class, []).append(name)
    return {cls: tuple(names) for cls, names in found.items()}


@dataclass(frozen=True)
class Case:
    family: str
    model_class: type
    auto_classes: tuple[str, ...]

    @property
    def head(self) -> str:
        """``Model`` for the base model, else what follows ``For`` (``CausalLM``, ``PreTraining``, ...)."""
        return self.model_class.__name__.partition("For")[2] or "Model"

    @property
    def id(self) -> str:
        return f"{self.family}-{self.head}"

    def build(self, seed: int = 0) -> PreTrainedModel:
        torch.manual_seed(seed)
        return self.model_class(FAMILIES[self.family].make_config()).eval()


CASES = [
    Case(family, model_class, autos)
    for family, spec in FAMILIES.items()
    for model_class, autos in registered_heads(spec.config_class).items()
]
CASE_IDS = [case.id for case in CASES]

# Where a model does not (yet) keep an invariant: (test, case id) -> why. Strict, so a fix shows up
# as a failure here and the entry goes.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def cases(test: str, select=lambda case: True):
    """``CASES`` as pytest params for ``test``, known gaps marked strict xfail."""
    params = []
    for case in CASES:
        if not select(case):
            continue
        gap = KNOWN_GAPS.get((test, case.id))
        marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


# Real COI barcodes of different lengths (multiples of 4 bases, so k-mer rows differ in length too).
SEQUENCES = [r["sequence"][:n] for r, n in zip(coi_sample_records(4), (36, 12, 24, 8))]


def model_inputs(case: Case, tokenizer, sequences, padding_side: str = "left") -> dict:
    """Input ids and attention mask; the masked-LM heads read ``[MASK]`` at every second real token
    (counted from each row's first real token, so the same tokens whatever the padding)."""
    enc = tokenizer(list(sequences), padding=True, padding_side=padding_side, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    if case.head in ("MaskedLM", "PreTraining"):
        real_index = mask.cumsum(1) - 1
        ids = ids.masked_fill(mask.bool() & (real_index % 2 == 1), tokenizer.mask_token_id)
    return {"input_ids": ids, "attention_mask": mask}


def with_labels(case: Case, tokenizer, sequences=SEQUENCES) -> dict:
    """:func:`model_inputs` plus labels of the head's kind (a base model has no loss, no labels)."""
    inputs = model_inputs(case, tokenizer, sequences)
    n = len(sequences)
    if case.head == "CausalLM":  # next token: the model shifts them itself
        labels = inputs["input_ids"].clone()
    elif case.head in ("MaskedLM", "PreTraining"):  # the original tokens, [MASK]s included
        labels = tokenizer(list(sequences), padding=True, return_tensors="pt")["input_ids"]
    elif case.head == "SequenceClassification":
        labels = torch.tensor([0, 1, 2, 1][:n])
    elif case.head == "TaxonomicClassification":  # one id per rank, -100 where unknown
        labels = torch.tensor([[0, 0, 0], [0, 0, 1], [1, 1, 2], [1, -100, -100]][:n])
    else:
        return inputs
    return {**inputs, "labels": labels}


def main_output(out) -> torch.Tensor:
    """The head's output (per-rank logits side by side), or the base model's token states."""
    logits = getattr(out, "logits", None)
    if logits is None:
        return out.last_hidden_state
    return torch.cat(logits, dim=-1) if isinstance(logits, tuple) else logits


def assert_same(a, b, path="output"):
    """Tensors, tuples and model outputs equal element by element, bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), f"{path}: {type(b).__name__} where a tensor was expected"
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=path)
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(b) == len(a), f"{path}: {len(b)} elements, expected {len(a)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:  # a recurrent-state cache: the same kind of object
        assert type(a) is type(b), f"{path}: {type(b).__name__}, expected {type(a).__name__}"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small run fastest on one thread (and a busy machine does not stall them)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_exported_model_class_and_config_is_tested():
    """A new head or family is covered as soon as it is registered; an exported one that is not
    registered with an Auto class (so no folder of it loads through one) fails here."""
    exported = [getattr(barcodefm, name) for name in barcodefm.__all__]
    models = {c for c in exported if isinstance(c, type) and issubclass(c, PreTrainedModel)}
    models = {c for c in models if not c.__name__.endswith("PreTrainedModel")}
    configs = {c for c in exported if isinstance(c, type) and issubclass(c, PretrainedConfig)}
    assert models == {case.model_class for case in CASES}
    assert configs == {family.config_class for family in FAMILIES.values()}
    assert len(set(CASE_IDS)) == len(CASE_IDS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each case saved (model + tokenizer) once per Auto class that maps to it: {(id, auto): (folder, model, tok)}."""
    root = tmp_path_factory.mktemp("common")
    folders = {}
    for case in CASES:
        model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
        for auto in case.auto_classes:
            folder = root / f"{case.id}-{auto}"
            model.save_pretrained(folder)
            tok.save_pretrained(folder)
            folders[case.id, auto] = (folder, model, tok)
    return folders


@pytest.mark.parametrize("case", cases("save_load"))
def test_save_load_round_trip(case, saved):
    for auto in case.auto_classes:
        folder, model, tok = saved[case.id, auto]
        auto_map = json.loads((Path(folder) / "config.json").read_text())["auto_map"]
        assert auto_map[auto].endswith(f".{case.model_class.__name__}"), (auto, auto_map)
        assert "AutoConfig" in auto_map
        loaded = getattr(transformers, auto).from_pretrained(folder).eval()
        assert type(loaded) is case.model_class, auto
        expected_state, got_state = model.state_dict(), loaded.state_dict()
        assert got_state.keys() == expected_state.keys()
        for name, value in expected_state.items():
            assert torch.equal(got_state[name], value), name
        inputs = model_inputs(case, tok, SEQUENCES)
        with torch.no_grad():
            assert_same(model(**inputs, output_hidden_states=True), loaded(**inputs, output_hidden_states=True))


def test_every_folder_loads_without_barcodefm(saved):
    """Each saved folder, through each Auto class that maps to its class, loaded with
    ``trust_remote_code=True`` in ONE fresh offline process where ``import barcodefm`` fails (one
    test, so that the interpreter starts once): the same class, from the folder's own code, and
    bit-identical ids, outputs and embeddings."""
    jobs = [
        {"folder": str(folder), "auto_class": auto, "sequences": SEQUENCES} for (_, auto), (folder, *_) in saved.items()
    ]
    remote = outputs_without_barcodefm(jobs, timeout=300)
    failures = {}
    for (case_id, auto), (folder, model, tok) in saved.items():
        got = remote[str(folder)]
        if "error" in got:
            failures[case_id, auto] = got["error"]
            continue
        module, _, name = got["model_class"].rpartition(".")
        problems, _ = compare_outputs(fresh_loader.model_outputs(model, tok, SEQUENCES), got["outputs"], 0.0, 0.0)
        if "transformers_modules" not in module or name != type(model).__name__:
            problems.append(f"loaded as {got['model_class']}")
        if problems:
            failures[case_id, auto] = problems
    assert failures == {}


@pytest.mark.parametrize("case", cases("from_config"))
def test_every_auto_class_builds_its_class_from_a_fresh_config(case):
    """A config made in code names no architecture yet: each Auto class builds the class it maps
    the family to (AutoModel: the backbone), and the class a config names when it names one (how
    AutoModel tells a taxonomic classifier from the backbone)."""
    for auto in case.auto_classes:
        auto_class = getattr(transformers, auto)
        config = FAMILIES[case.family].make_config()
        assert not config.architectures
        mapped = auto_class._model_mapping[type(config)]
        default = mapped[0] if isinstance(mapped, tuple) else mapped
        if case.model_class is not default:
            config.architectures = [case.model_class.__name__]
        assert type(auto_class.from_config(config)) is case.model_class, auto


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("case", cases("padding"))
def test_each_record_alone_equals_its_row_in_a_padded_batch(case, padding_side):
    model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
    batch = model_inputs(case, tok, SEQUENCES, padding_side)
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        together = main_output(model(**batch))
        plain = tok(SEQUENCES, padding=True, padding_side=padding_side, return_tensors="pt")
        embedded = model.embed(plain["input_ids"], plain["attention_mask"])
        for i, sequence in enumerate(SEQUENCES):
            alone_inputs = model_inputs(case, tok, [sequence])
            alone = main_output(model(**alone_inputs))[0]
            real = batch["attention_mask"][i].bool()
            got = together[i][real] if together.dim() == 3 else together[i]  # token outputs: real positions
            torch.testing.assert_close(got, alone, rtol=ATOL, atol=ATOL, msg=f"record {i}")
            plain_alone = tok([sequence], return_tensors="pt")
            embedded_alone = model.embed(plain_alone["input_ids"], plain_alone["attention_mask"])[0]
            torch.testing.assert_close(embedded[i], embedded_alone, rtol=ATOL, atol=ATOL, msg=f"embed {i}")
        from_strings = model.embed_sequences(SEQUENCES, tok, batch_size=3)
    torch.testing.assert_close(from_strings, embedded, rtol=ATOL, atol=ATOL)


def assert_tuple_is_the_output_in_order(model, inputs):
    with torch.no_grad():
        as_dict = model(**inputs, return_dict=True)
        as_tuple = model(**inputs, return_dict=False)
    assert type(as_tuple) is tuple
    fields = list(as_dict.keys())  # the fields that are set, in declaration order
    assert len(as_tuple) == len(fields), f"a tuple of {len(as_tuple)} for the fields {fields}"
    for name, got in zip(fields, as_tuple):
        assert_same(as_dict[name], got, name)


@pytest.mark.parametrize("case", cases("return_dict"))
def test_return_dict_false_gives_the_output_fields_in_order(case):
    model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
    assert_tuple_is_the_output_in_order(model, model_inputs(case, tok, SEQUENCES))


@pytest.mark.parametrize("case", cases("return_dict_full"))
def test_return_dict_false_with_loss_and_hidden_states(case):
    model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
    assert_tuple_is_the_output_in_order(model, {**with_labels(case, tok), "output_hidden_states": True})


@pytest.mark.parametrize("case", cases("determinism"))
def test_eval_forward_and_seeded_initialisation_are_deterministic(case):
    model, tok = case.build(seed=0), FAMILIES[case.family].make_tokenizer()
    inputs = model_inputs(case, tok, SEQUENCES)
    with torch.no_grad():
        assert_same(model(**inputs, output_hidden_states=True), model(**inputs, output_hidden_states=True))
    again, other = case.build(seed=0).state_dict(), case.build(seed=1).state_dict()
    state = model.state_dict()
    assert again.keys() == state.keys()
    for name, value in state.items():
        assert torch.equal(again[name], value), name
    assert any(not torch.equal(other[n], v) for n, v in state.items() if v.is_floating_point())


@pytest.mark.parametrize("case", cases("training", select=lambda case: case.head != "Model"))
def test_a_few_adamw_steps_lower_the_loss(case):
    model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
    batch = with_labels(case, tok)
    with torch.no_grad():
        before = model(**batch).loss.item()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    torch.manual_seed(0)  # dropout draws
    for step in range(3):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        if step == 0:  # DDP (find_unused_parameters=False) needs a gradient for every parameter
            assert [n for n, p in model.named_parameters() if p.grad is None] == []
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert after < before, (before, after)


@pytest.mark.parametrize("case", cases("hidden_states"))
def test_output_hidden_states_gives_the_embeddings_and_one_state_per_layer(case):
    model, tok = case.build(), FAMILIES[case.family].make_tokenizer()
    inputs = model_inputs(case, tok, SEQUENCES)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
        assert model(**inputs).get("hidden_states") is None  # only on request
    states = out.get("hidden_states")
    assert states is not None, f"{type(out).__name__} has no hidden_states"
    assert len(states) == model.config.num_hidden_layers + 1
    shape = (*inputs["input_ids"].shape, model.config.hidden_size)
    assert all(tuple(s.shape) == shape for s in states)
    if case.head == "Model":
        assert torch.equal(states[-1], out.last_hidden_state)


@pytest.mark.parametrize("case", cases("loss_kwargs"))
def test_the_trainer_does_not_rescale_the_loss(case):
    """Losses are plain means over their own targets (transformers 5 would otherwise scale them)."""
    assert case.model_class.accepts_loss_kwargs is False
