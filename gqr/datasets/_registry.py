"""What gqr knows about GQR-Bench: file, role, GQR key, hub source, licence, expected rows and
sha256. This module is the source of truth; ``data/gqr-bench.json`` is the same registry
written out for people (a test keeps the two equal). Training pools are not listed here:
they come from their directory's ``MANIFEST.json`` (``gqr.datasets._manifest``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BACKGROUND_CLASSES",
    "DOMAINS",
    "HUB_ID_SOURCES",
    "ID_FILES",
    "OOD_SETS",
    "HubSpec",
    "LocalFile",
    "OodSpec",
    "manifest",
]

#: The three GQR-Bench domains, in the reference loader's label order.
DOMAINS = ("law", "finance", "healthcare")
#: Outlier classes a router learns to reject (values of ``gqr.decision.Reason``).
BACKGROUND_CLASSES = ("out_of_domain", "other_language", "unsafe")

_WIDEMLP = "github:williambrach/ood-widemlp@d5ab9ec765d09f64edb4a41773a6c2afbb0c1c2b"


@dataclass(frozen=True)
class HubSpec:
    """One Hugging Face dataset as the reference loader reads it.

    ``data_files`` pins one file of the repository (read as split ``train`` by
    ``datasets.load_dataset``); otherwise ``split`` is used. Rows are kept when any of
    ``filter_columns`` equals ``filter_value`` (no filter when empty).
    """

    hub_id: str
    text_field: str
    split: str = "train"
    data_files: str | None = None
    config: str | None = None
    filter_columns: tuple[str, ...] = ()
    filter_value: Any = None
    drop_rows_with_nulls: bool = False
    max_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hub_id": self.hub_id, "text_field": self.text_field}
        if self.data_files:  # load_dataset reads a single data file as its split "train"
            out["data_files"] = self.data_files
        else:
            out["split"] = self.split
        if self.config:
            out["config"] = self.config
        if self.filter_columns:
            out["filter"] = {"any_of": list(self.filter_columns), "equals": self.filter_value}
        if self.drop_rows_with_nulls:
            out["drop_rows_with_nulls"] = True
        if self.max_rows:
            out["max_rows"] = self.max_rows
        return out


@dataclass(frozen=True)
class LocalFile:
    """A JSONL file of the offline copy (``{"text": ..., "source": ...}`` per line)."""

    name: str
    path: str  # relative to the data dir (GQR-Bench) or the train dir (pools)
    role: str  # ood_test | id_test | eval_only | domain_pool | background_pool
    label: str | None
    rows: int
    sha256: str
    fidelity: str  # exact | exact_subset | substitute | substitute_synthetic | real
    licence: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v not in ("", None)}
        return out


@dataclass(frozen=True)
class OodSpec:
    """One of the seven GQR-Bench OOD test sets."""

    name: str  # stable gqr name (= local file stem)
    gqr_key: str  # key in the reference loader's dict
    unsafe: bool  # a toxicity / hate set (else a benign out-of-domain set)
    local: LocalFile
    hub: HubSpec
    licence: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "gqr_key": self.gqr_key,
            "role": "ood_test",
            "unsafe": self.unsafe,
            "licence": self.licence,
            "local": {k: v for k, v in self.local.to_dict().items() if k in ("path", "rows", "sha256", "fidelity")},
            "hub": self.hub.to_dict(),
        }
        if self.note:
            out["note"] = self.note
        return out


def _ood(name: str, key: str, unsafe: bool, rows: int, sha: str, hub: HubSpec, licence: str, note: str = "") -> OodSpec:
    local = LocalFile(name, f"ood/{name}.jsonl", "ood_test", None, rows, sha, "exact", licence)
    return OodSpec(name, key, unsafe, local, hub, licence, note)


_FLAGS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

#: The OOD test sets in the reference loader's order. Evaluation only: never train on them.
OOD_SETS: tuple[OodSpec, ...] = (
    _ood("jigsaw", "jigsaw", True, 3214,
         "9d8169203e813ea1e9f048c5555c274948af47b78f4dd05074e7475a45b23294",
         HubSpec("Arsive/toxicity_classification_jigsaw", "comment_text", data_files="val_dataset.csv",
                 filter_columns=_FLAGS, filter_value=1),
         "Wikipedia talk pages, CC BY-SA 3.0 (Kaggle release); mirror states none"),
    _ood("olid", "olid", True, 860,
         "f5dd6d55ff085bed43f08320d8b3c5811a0533e18b060d1e49d202d0264b13ce",
         HubSpec("christophsonntag/OLID", "cleaned_tweet", data_files="test.csv"),
         "OLID / OffensEval-2019; mirror states none",
         "preprocessed tweets (lower-cased, stop-words dropped), not the raw text"),
    _ood("hatexplain", "hate_xplain", True, 5935,
         "dbde32bcfc59402deb48ed2ae0d4c32678487f059537ffb3a6691130aca47af0",
         HubSpec("nirmalendu01/hateXplain_filtered", "test_case",
                 data_files="data/train-00000-of-00001.parquet",
                 filter_columns=("gold_label",), filter_value="hateful"),
         "HateXplain, CC BY 4.0"),
    _ood("slovak_hate", "hate_speech_slovak", True, 959,
         "3619f8dba5875be63bbd3add9c6583acdfe34b289fc9f75939cfca528660f7e2",
         HubSpec("TUKE-KEMT/hate_speech_slovak", "text", data_files="test.json",
                 filter_columns=("label",), filter_value=0),
         "not checked",
         "the reference loader's key has a trailing space ('hate_speech_slovak ')"),
    _ood("dkhate", "dkhate", True, 329,
         "3e613b58a92a42aad12878ea6056dba57b7973e6b0a250466799b0c9941c82cd",
         HubSpec("DDSC/dkhate", "text", data_files="data/test-00000-of-00001.parquet"),
         "DKHate, CC BY 4.0",
         "all test rows (288 NOT, 41 OFF): the reference loader does not filter by label"),
    _ood("web_questions", "web_questions", False, 2032,
         "cc18fd27389f9f416c7aa82afb45813c8f72b777542b7a175ce1776332fa32ac",
         HubSpec("Stanford/web_questions", "question", data_files="data/test-00000-of-00001.parquet"),
         "WebQuestions, CC BY 4.0"),
    _ood("ml_questions", "ml_questions", False, 128,
         "026614379321da6f86a601d6ff120119a8a5045faf80ee49db5948ba7a7cd7f7",
         HubSpec("mjphayes/machine_learning_questions", "question",
                 data_files="data/test-00000-of-00001-fbd3905b045b12b8.parquet"),
         "not checked"),
)

#: Files under ``<data_dir>/id``.
ID_FILES: tuple[LocalFile, ...] = (
    LocalFile("gqr_exact_sample", "id/gqr_exact_sample.jsonl", "id_test", None, 300,
              "bd0d47ecca27a49fcce8693b62a25b86d0aa6c2a2e451a59fbf970948554e80d", "exact_subset",
              "per source dataset (see PROVENANCE.md)",
              f"100 rows per domain of the GQR ID test split ({_WIDEMLP} data/batch_data.csv)"),
    LocalFile("law", "id/law.jsonl", "eval_only", "law", 100,
              "37cce769a39aaf3eb7a5a06f1c14e084ced53a03224c15b499ea9590a1b00c18", "exact_subset",
              "Law Stack Exchange, CC BY-SA",
              "the law rows of gqr_exact_sample: evaluation only, never a training pool"),
    LocalFile("finance", "id/finance.jsonl", "domain_pool", "finance", 6648,
              "1d3e9379fb7141898263696f421ccf37a45605242fd3eaa6b552b4e486ff49b6", "substitute",
              "FiQA-2018 (StackExchange questions, CC BY-SA)",
              "holds 42 (46 normalised) texts of the exact sample; make_splits removes them"),
    LocalFile("healthcare", "id/healthcare.jsonl", "domain_pool", "healthcare", 2000,
              "06aa9a46a79216d13e82afb9ace5f0fa6bc30dffc44647e20e1dac363dd49a6f", "substitute",
              "ChatDoctor iCliniq data, research only"),
    LocalFile("healthcare_genmedgpt5k", "id/healthcare_genmedgpt5k.jsonl", "domain_pool", "healthcare", 5452,
              "c7c0c5a838f8a574d1bc006aef2250ebafcab40380e11dcc60cc090f31eed4ff", "substitute_synthetic",
              "ChatDoctor, Apache-2.0", "ChatGPT-generated patient questions; 3 duplicates"),
)

#: The reference loader's in-domain sources: the first 15,000 rows of each ``train`` split
#: whose text is non-empty and that have no null column.
HUB_ID_SOURCES: dict[str, HubSpec] = {
    "law": HubSpec("dim/law_stackexchange_prompts", "prompt", drop_rows_with_nulls=True, max_rows=15_000),
    "finance": HubSpec("4DR1455/finance_questions", "instruction", drop_rows_with_nulls=True, max_rows=15_000),
    "healthcare": HubSpec("iecjsu/lavita-ChatDoctor-HealthCareMagic-100k", "input",
                          drop_rows_with_nulls=True, max_rows=15_000),
}

_HUB_ID_NOTES = {
    "law": {"licence": "Law Stack Exchange, CC BY-SA 4.0"},
    "finance": {"licence": "not stated",
                "note": "removed from the hub; pass another id (e.g. hub_ids={'finance': ...})"},
    "healthcare": {"licence": "ChatDoctor HealthCareMagic-100k: research only"},
}

#: The reference split recipe, written out for the manifest.
HUB_SPLIT_RECIPE = {
    "concat_order": list(DOMAINS),
    "test": "datasets.Dataset.train_test_split(test_size=0.2, seed=42): "
            "perm = numpy.random.default_rng(42).permutation(n); test = perm[:ceil(0.2 n)], train = rest",
    "shuffle": "pandas.DataFrame.sample(frac=1, random_state=42) of train "
               "= reorder by numpy.random.RandomState(42).permutation",
    "validation": "sklearn.model_selection.train_test_split(test_size=0.2, random_state=42, "
                  "stratify=domain)",
}


def manifest(group: str) -> dict[str, Any]:
    """The GQR-Bench registry (``group="gqr-bench"``) as JSON-ready data."""
    if group == "gqr-bench":
        return {
            "description": "GQR-Bench: the seven OOD test sets and the in-domain files of the offline copy. "
                           "No data is stored in this repository; sha256 values identify the local copy. "
                           "Hub sources with data_files load that one file of the dataset repository.",
            "ood_test_sets": [s.to_dict() for s in OOD_SETS],
            "id_files": [f.to_dict() for f in ID_FILES],
            "hub_id_sources": {
                d: {"role": "id_source (split into train / validation / test by hub_split_recipe)",
                    **s.to_dict(), **_HUB_ID_NOTES.get(d, {})}
                for d, s in HUB_ID_SOURCES.items()
            },
            "hub_split_recipe": HUB_SPLIT_RECIPE,
        }
    raise ValueError(f"unknown manifest group {group!r}; use 'gqr-bench' (training pools are "
                     "listed in their directory's MANIFEST.json)")

