"""One audit configuration, as a Python object or a TOML file.

TOML layout (every key optional except ``data.name``, or ``data.path`` for your own records)::

    seed = 0
    device = "auto"            # auto | cpu | cuda | cuda:N
    out = "audit-out"          # output directory, relative to this file (the CLI's --out wins)

    [data]
    name = "adult"             # see `mia-audit list`
    data_dir = "../shared/data"  # for datasets not shipped with the package (relative to this file)
    train_size = 0.5           # fraction of the pool or a count; default: what test leaves
    test_size = 0.5
    validation_size = 1000     # for mitigations that fit something (temperature T = "fit")
    stratify = true
    options = { }              # loader options, e.g. { as_ = "sequence" } for digits
    # path = "records.csv"     # instead of a registered name: your own records (.csv, .csv.gz, .parquet,
                               # .npz), relative to this file; name is then only a display name
    # label = "income"         # with path: the label column (CSV, Parquet)
    # id = "person_id"         # with path: optional column of unique record ids (never a feature)
    # categorical = ["sex"]    # with path: one-hot coded columns; numeric = [...]: standardised ones;
    # numeric = ["age"]        #   neither: every other column is numeric and used as given

    [model]
    name = "mlp"
    params = { hidden = [256, 256] }
    training = { epochs = 30 } # overrides of the default recipe for this model
    # train = "mymodel:fit"    # your own training code instead of name (naming code runs it):
                               #   fit(X, y, *, seed, device) -> model, found beside this file first
    # version = "2"            # with train: a version tag, part of the reference models' cache key

    [forget]
    kind = "random"            # random | classes | indices | predicate
    fraction = 0.05            # or size = 500; classes = [3]; indices = [...]; predicate = "red"

    [attacks]
    names = ["loss", "loss-lr"] # default: every registered single-model attack
    members = ["train", "forget"]
    options = { loss-lr = { n_splits = 5 } }

    [[mitigations]]            # each evaluated on the trained model (see `mia-audit list`)
    name = "label-only"
    [[mitigations]]
    name = "temperature"
    T = "fit"                  # fitted on data.validation_size records from outside train and test

    [[unlearners]]             # each forgets the forget set; retrain (the reference) always runs
    name = "finetune"
    [[unlearners]]
    name = "scrub"
    epochs = 2                 # the method's options (see `mia-audit list`)

    [references]               # for lira-online/offline, rmia-online/offline, two-model, u-lira
    n_models = 16              # reference models (each on a random half of train + test + population)
    store = "refs"             # reused across runs (default: a cache folder keyed by the settings)
    shadow_models = 4          # two-model: shadow originals per unlearner (on records outside the audit)
    # imported = "refs/"       # reference models trained elsewhere (mask.npy, ids.npy, models/)
    # imported_options = { architecture = "mlp" }   # how to load those model files

    [metrics]
    fprs = [0.001, 0.01, 0.1]

    [report]                   # single records and subgroups (the result's records and slices sections)
    slices = ["sex", "race"]   # columns whose values become slices (classes always are)
    top_records = 20           # the members most at risk, named by id
    min_slice = 50             # smaller slices are reported as too small
    dp_audit = false           # true: audit each dp-sgd claim in one run with canaries
    dp_canaries = 1000
    dp_guesses = 100

    [policy]                   # what the verdict requires (the CLI's --max-auc / --max-tpr override it)
    max_auc = 0.6              # highest AUC allowed on any attack result
    max_tpr_at_fpr = { "0.001" = 0.01 }  # highest TPR allowed at each FPR
    require = ["posterior"]    # evidence every audited model needs: posterior | label | reference

A deployed model that mia-audit did not train is audited with a ``[target]`` table
instead of ``[data]``/``[model]``/``[forget]`` (see :mod:`mia_audit.run.deployed`)::

    [target]
    model = "model.pt"         # or .safetensors / .json / .ubj (XGBoost) / .onnx
    architecture = "mlp"       # torch weights: the architecture, its input shape and classes
    input_shape = [88]
    n_classes = 2
    # endpoint = "http://127.0.0.1:8080/predict"  # instead of model: a JSON endpoint
    members = "members.npz"    # X and y arrays (or .csv with a label column)
    nonmembers = "nonmembers.npz"
    # population = "pop.npz"   # records from the same distribution, not in its training set: QMIA,
                               #   RMIA's population, and (with train) reference models for LiRA / RMIA
    # train = "mymodel:fit"    # your training code, which trains the reference models
    # build = "mynet:build"    # torch weights without a built-in architecture: build(input_shape, n_classes)
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import boolean, choice, nonnegative_int, positive_int, table, text, text_list
from .errors import DataFileError, InputError, bad_value
from .seeding import check_seed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MEMBER_SETS = ("train", "forget", "retain")


@dataclass
class DataConfig:
    """``[data]``: a registered data set (``name``, ``data_dir``, ``options``) or your own records
    (``path`` with ``label``, ``id``, ``categorical``, ``numeric``; see :mod:`mia_audit.data.own`),
    and how the pool is split. With ``path``, ``name`` is only the display name (default: the
    file name without its ending; a registered data set's name is refused there) and
    ``data_dir`` / ``options`` are refused. With neither ``name`` nor ``path``: ``"adult"``.
    Load it with :func:`mia_audit.data.load_configured_dataset`."""

    name: str | None = None  # None: "adult" unless path is given
    data_dir: str | None = None
    train_size: float | int | None = None
    test_size: float | int = 0.5
    validation_size: float | int | None = None  # drawn from records in neither train nor test
    stratify: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    path: str | None = None  # your own records: .csv / .csv.gz, .parquet or .npz
    label: str | None = None  # with path: the label column (required for CSV and Parquet)
    id: str | None = None  # with path: optional column of unique record ids, never a feature
    categorical: list[str] | None = None  # with path: columns one-hot coded
    numeric: list[str] | None = None  # with path: columns standardised (neither list: all numeric, as given)

    def __post_init__(self) -> None:
        if self.name is None and self.path is None:
            self.name = "adult"


@dataclass
class ModelConfig:
    name: str = "mlp"
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    #: your own training code, "package.module:function": fit(X, y, *, seed, device) -> model; it then
    #: trains the original and every reference model (naming code here runs it; see mia_audit.user_code)
    train: str | None = None
    #: a version tag of your training code, part of the reference models' cache key
    version: str | None = None
    #: the folder searched first for the modules named in train (default: the config file's folder)
    code_dir: str | None = None


@dataclass
class ForgetConfig:
    kind: str = "random"
    fraction: float | None = None  # random with neither fraction nor size: 5 % of train
    size: int | None = None
    classes: list[int] | None = None
    indices: list[int] | None = None
    predicate: Any = None  # a registered predicate name, or (Python API only) a callable

    def to_spec(self) -> dict[str, Any]:
        spec = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        if self.kind == "random" and self.fraction is None and self.size is None:
            spec["fraction"] = 0.05
        return spec


@dataclass
class AttackConfig:
    names: list[str] | None = None  # None: every registered attack
    members: list[str] = field(default_factory=lambda: ["train", "forget"])
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class MetricsConfig:
    fprs: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1])
    n_bootstrap: int = 200
    confidence: float = 0.95


@dataclass
class ReferenceConfig:
    """Reference and shadow models for the attacks that need them (lira-*, rmia-*, two-model,
    u-lira); used only when such an attack is named in ``attacks.names``."""

    n_models: int = 16              # LiRA / RMIA reference models, each on a random half of the pool
    store: str | None = None        # store folder (reused across runs); default: a folder keyed by the
                                    # settings under $MIA_AUDIT_CACHE or ~/.cache/mia-audit/references
    executor: str = "auto"          # auto | sequential | batched | process | ray ("auto": batched, except
                                    # convolutional nets on the CPU; process for xgboost)
    ray_address: str | None = None  # with executor = "ray": an existing cluster ("auto" or host:port)
    population: int = 1000          # records outside train/test/validation added to the pool (RMIA's z)
    shadow_models: int = 4          # two-model: shadow originals per unlearner
    shadow_pool: int | None = None  # two-model: records of the shadow pool (default: all that remain)
    deletions: str = "group"        # two-model: "group" (the target's forget fraction) or "single"
    single_deletions: int = 20      # two-model, deletions = "single": unlearned models per shadow original
    pair_unlearners: list[str] | None = None  # unlearned models audited by two-model / u-lira (default all)
    ulira_models: int = 8           # u-lira: reference models (each unlearned ulira_forget_sets times)
    ulira_forget_sets: int = 4
    #: a folder of reference models trained elsewhere (mask.npy, ids.npy, models/: see
    #: mia_audit.reference.imported), used by LiRA and RMIA in place of training them
    imported: str | None = None
    #: how to load those model files (mia_audit.model_files.load_model_file options: architecture, params, ...)
    imported_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportConfig:
    """What a result says about single records and subgroups (the records and slices sections)."""

    slices: list[str] = field(default_factory=list)  # columns whose values become slices (e.g. ["sex", "race"])
    top_records: int = 20           # the members most at risk that the records section names (by id)
    min_slice: int = 50             # a slice with fewer members or non-members is reported as too small
    #: audit each dp-sgd mitigation's claim in one extra training run with canaries (Steinke et al. 2023)
    dp_audit: bool = False
    dp_canaries: int = 1000         # mislabelled canaries, each in training with probability 1/2
    dp_guesses: int = 100           # "in" guesses for the top scores, and as many "out" for the bottom


@dataclass
class AuditConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    forget: ForgetConfig = field(default_factory=ForgetConfig)
    attacks: AttackConfig = field(default_factory=AttackConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    mitigations: list[dict[str, Any]] = field(default_factory=list)  # [{name = "temperature", T = "fit"}, ...]
    unlearners: list[dict[str, Any]] = field(default_factory=list)  # [{name = "scrub", epochs = 2}, ...]
    references: ReferenceConfig = field(default_factory=ReferenceConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    target: dict[str, Any] | None = None  # a deployed model to audit instead of training one (mia_audit.run.deployed)
    policy: Any = None  # a mia_audit.verdict.Policy, a [policy] table, or None (the default policy)
    seed: int = 0
    device: str = "auto"
    out: str | None = None

    def __post_init__(self) -> None:
        self.seed = check_seed(self.seed)
        text("device", self.device, allowed="'auto', 'cpu', 'cuda' or 'cuda:N'")
        text("out", self.out, allowed="a directory path (text)", allow_none=True)
        self._check_types()
        from .verdict import Policy

        if not isinstance(self.policy, Policy):
            self.policy = Policy.from_dict(self.policy, where="policy")
        for m in self.attacks.members:
            if m not in MEMBER_SETS:
                raise bad_value("attacks.members", f"a list drawn from {', '.join(MEMBER_SETS)}", self.attacks.members)
        if not self.attacks.members:
            raise bad_value("attacks.members", f"a non-empty list drawn from {', '.join(MEMBER_SETS)}", [])
        from .metrics import MAX_BOOTSTRAP, check_count

        check_count(self.metrics.n_bootstrap, "metrics.n_bootstrap", 0, MAX_BOOTSTRAP)

    def _check_types(self) -> None:
        """Wrongly typed values fail here, naming the key, not later as a TypeError."""
        from .metrics import check_confidence, check_fprs

        for section, kind in (("data", DataConfig), ("model", ModelConfig), ("forget", ForgetConfig),
                              ("attacks", AttackConfig), ("metrics", MetricsConfig), ("references", ReferenceConfig),
                              ("report", ReportConfig)):
            if not isinstance(getattr(self, section), kind):
                raise bad_value(section, f"a mia_audit.config.{kind.__name__}", getattr(self, section))
        self._check_data()
        for where, value in (("model.name", self.model.name),
                             ("forget.kind", self.forget.kind)):
            text(where, value, allowed="a name (text)")
        text("data.data_dir", self.data.data_dir, allowed="a folder path (text)", allow_none=True)
        text("model.train", self.model.train, allowed='"package.module:function" (your training function)',
             allow_none=True)
        text("model.version", self.model.version, allowed="a version tag (text)", allow_none=True)
        text("model.code_dir", self.model.code_dir, allowed="a folder path (text)", allow_none=True)
        if self.model.train is not None and self.model.params:
            raise InputError("model.params: your training function (model.train) builds its own model; "
                             f"model.params apply to the built-in models only; got {sorted(self.model.params)}")
        self.data.stratify = boolean("data.stratify", self.data.stratify, spelling="true or false")
        for where, value in (("data.options", self.data.options), ("model.params", self.model.params),
                             ("model.training", self.model.training), ("attacks.options", self.attacks.options)):
            table(where, value)
        for name, options in self.attacks.options.items():
            table(f"attacks.options.{name}", options)
        text_list("attacks.names", self.attacks.names, allowed="a list of attack names (see `mia-audit list`)",
                  allow_none=True)
        if not isinstance(self.attacks.members, (list, tuple)):
            raise bad_value("attacks.members", f"a list drawn from {', '.join(MEMBER_SETS)}", self.attacks.members)
        if not isinstance(self.mitigations, (list, tuple)) or not all(
            isinstance(m, dict) and isinstance(m.get("name"), str) for m in self.mitigations
        ):
            raise bad_value("mitigations", 'a list of tables, each with a name, e.g. [[mitigations]] name = "label-only"',
                            self.mitigations)
        if not isinstance(self.unlearners, (list, tuple)) or not all(
            isinstance(u, dict) and isinstance(u.get("name"), str) for u in self.unlearners
        ):
            raise bad_value("unlearners", 'a list of tables, each with a name, e.g. [[unlearners]] name = "finetune"',
                            self.unlearners)
        table("target", self.target, allowed="a table (model or endpoint, members, nonmembers)", allow_none=True)
        self._check_references()
        text_list("report.slices", self.report.slices, allowed="a list of column names")
        self.report.top_records = nonnegative_int("report.top_records", self.report.top_records)
        self.report.min_slice = positive_int("report.min_slice", self.report.min_slice)
        self.report.dp_audit = boolean("report.dp_audit", self.report.dp_audit, spelling="true or false")
        self.report.dp_canaries = positive_int("report.dp_canaries", self.report.dp_canaries)
        self.report.dp_guesses = positive_int("report.dp_guesses", self.report.dp_guesses)
        if 2 * self.report.dp_guesses > self.report.dp_canaries:
            raise InputError(f"report.dp_guesses: {self.report.dp_guesses} 'in' and as many 'out' guesses need at "
                             f"least {2 * self.report.dp_guesses} canaries; report.dp_canaries is "
                             f"{self.report.dp_canaries}")
        check_fprs(self.metrics.fprs, "metrics.fprs")
        check_confidence(self.metrics.confidence, "metrics.confidence")

    def _check_data(self) -> None:
        """``[data]``: a registered name, or a path to your own records with its column options."""
        d = self.data
        text("data.path", d.path, allowed="a records file path (text)", nonempty=True, allow_none=True)
        if d.path is None:
            text("data.name", d.name, allowed="a name (text)")
            for key in ("label", "id", "categorical", "numeric"):
                if getattr(d, key) is not None:
                    raise InputError(f"data.{key} is read only with data.path (your own records file); data set "
                                     f"{d.name!r} brings its own columns: remove data.{key} or give data.path")
            return
        text("data.name", d.name, allowed="a display name for your records (text)", nonempty=True, allow_none=True)
        from .data import DATASETS
        from .data.own import check_file_options

        if d.name is not None and d.name in DATASETS.names():
            raise InputError(f"data.name {d.name!r} is a registered data set, but data.path is given too; with "
                             "data.path, data.name is only the display name of your records: choose another "
                             "name, or remove data.path to use the registered data set")
        if d.data_dir is not None:
            raise InputError("data.data_dir is the folder of the registered data sets; with data.path it is not "
                             "used: remove it")
        if d.options:
            raise InputError("data.options are loader options of the registered data sets; with data.path use "
                             "data.label, data.id, data.categorical and data.numeric: remove data.options")
        check_file_options(d.path, label=d.label, id=d.id, categorical=d.categorical, numeric=d.numeric,
                           prefix="data.")

    def _check_references(self) -> None:
        r = self.references
        for key in ("n_models", "population", "shadow_models", "single_deletions", "ulira_models",
                    "ulira_forget_sets"):
            value = getattr(r, key)
            if key == "population":
                setattr(r, key, nonnegative_int(f"references.{key}", value))
            else:
                # u-lira forgets one of ulira_forget_sets parts of each model's records: one part would be all
                setattr(r, key, positive_int(f"references.{key}", value,
                                             minimum=2 if key in ("n_models", "ulira_models", "ulira_forget_sets") else 1))
        if r.n_models % 2 or r.ulira_models % 2:
            key = "n_models" if r.n_models % 2 else "ulira_models"
            raise bad_value(f"references.{key}", "an even integer (models come in complementary pairs)",
                            getattr(r, key))
        r.shadow_pool = positive_int("references.shadow_pool", r.shadow_pool, minimum=4, allow_none=True)
        choice("references.deletions", r.deletions, ("group", "single"))
        for key in ("store", "executor", "ray_address", "imported"):
            text(f"references.{key}", getattr(r, key), allow_none=True)
        table("references.imported_options", r.imported_options)
        text_list("references.pair_unlearners", r.pair_unlearners, allowed="a list of unlearner names", allow_none=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; a callable predicate is recorded by its qualified name."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "policy":
                d[f.name] = value.to_dict()
            else:
                d[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)
        pred = self.forget.predicate
        if callable(pred):
            d["forget"]["predicate"] = f"<callable {getattr(pred, '__qualname__', repr(pred))}>"
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> "AuditConfig":
        raw = dict(raw)
        sections = {"data": DataConfig, "model": ModelConfig, "forget": ForgetConfig,
                    "attacks": AttackConfig, "metrics": MetricsConfig, "references": ReferenceConfig,
                    "report": ReportConfig}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise InputError(f"{source}: [{key}] must be a table; got {type(value).__name__}")
                kwargs[key] = _build(sections[key], value, f"{source}: [{key}]")
            elif key in ("seed", "device", "out", "mitigations", "unlearners", "target", "policy"):
                kwargs[key] = value
            else:
                allowed = sorted(list(sections) + ["seed", "device", "out", "mitigations", "unlearners", "target",
                                                   "policy"])
                raise InputError(f"{source}: unknown key {key!r}; allowed keys are {', '.join(allowed)}")
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> "AuditConfig":
        p = Path(path)
        if not p.is_file():
            raise DataFileError(f"config file not found: {p}")
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"config file {p} is not valid TOML: {exc}") from None
        model = raw.get("model")
        if isinstance(model, dict) and "train" in model and "code_dir" not in model:
            model["code_dir"] = "."  # the modules named in model.train are looked for beside the config first
        for section, key in (("data", "data_dir"), ("data", "path"), (None, "out"), ("references", "store"), ("model", "code_dir"),
                             ("references", "imported")):
            table = raw.get(section, {}) if section else raw
            value = table.get(key) if isinstance(table, dict) else None
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                # relative paths in a config file are relative to that file, not to the caller's cwd
                table[key] = str(p.parent / Path(value).expanduser())
        target = raw.get("target")
        if isinstance(target, dict):
            if ("train" in target or "build" in target) and "code_dir" not in target:
                target["code_dir"] = "."  # modules named in target.train / target.build: beside the config first
            for key in ("model", "members", "nonmembers", "validation", "population", "code_dir"):
                value = target.get(key)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    target[key] = str(p.parent / Path(value).expanduser())
        return cls.from_dict(raw, source=str(p))


def _build(kind: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(names))}")
    return kind(**values)
