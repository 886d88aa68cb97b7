"""Experiment configs: which rows to learn from, how to fold them, and the model's settings.

An experiment is a TOML file (or the same keys as a JSON object)::

    description = "..."
    input_data = "SELECT id, pixels AS features, label FROM digits"
    evaluate_train = false
    [[folds]]
    training_where = "NOT is_test_fold(id)"
    testing_where = "is_test_fold(id)"
    [algorithm]   # [preprocess] and [augment] too: see mlpaint.model.ModelSpec

Fold semantics: each predicate is a SQL boolean expression over the columns of the ``digits``
table. Training runs ``input_data`` with ``digits`` replaced by the rows the predicate keeps
(``WITH digits AS (SELECT * FROM main.digits WHERE <predicate>) SELECT * FROM (<input_data>)``),
so ``input_data`` must read the plain, unqualified ``digits`` table and may reshape it freely
(filter, cast, join to other tables). One ``[[folds]]`` entry is a train/test split; several are
k-fold cross-validation. Everything here is checked without a database (syntax, one SELECT,
reads ``digits``, hyperparameters, each bounded); ``mlpaint.trainingdata.check_config`` binds the
SQL to a database and refuses any statement whose plan would write.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from mlpaint import sqlguard
from mlpaint.knobs import ConfigError, check_knobs, check_type, table
from mlpaint.model import ModelSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_INPUT = "SELECT pixels AS features, label FROM digits"
TABLE = "digits"
_SECTIONS = ("algorithm", "preprocess", "augment")
_KEYS = ("description", "input_data", "evaluate_train", "folds", "cluster", *_SECTIONS)
_FOLD_KEYS = ("training_where", "testing_where")
_CLUSTER_KEYS = ("dask", "shared_dir")
MAX_FOLDS = 20
MAX_LOCAL_WORKERS = 64
# A scheduler address (tcp://host:8786, tls://..., ucx://...) or local:N for a LocalCluster.
_DASK_ADDRESS = re.compile(r"^(local:(?P<n>\d{1,3})|(tcp|tls|ucx|ws|wss)://[^\s/]+)$")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the bags train: ``[cluster]`` (or ``mlpaint train --dask``); empty means here."""

    dask: str = ""  # "" = in this process; "local:N" or a scheduler address such as tcp://h:8786
    shared_dir: str = ""  # a folder every worker reaches, for the bags' data; "" = the db's

    def __post_init__(self) -> None:
        """Check the address's form (reaching it is checked when training starts)."""
        check_knobs(self, {}, "cluster")
        match = _DASK_ADDRESS.match(self.dask)
        if self.dask and not match:
            raise ConfigError(
                f"cluster.dask = {self.dask!r}: give local:N or a scheduler address "
                "such as tcp://host:8786"
            )
        if match and match.group("n") and not 1 <= int(match.group("n")) <= MAX_LOCAL_WORKERS:
            raise ConfigError(f"cluster.dask: local:N takes 1..{MAX_LOCAL_WORKERS} workers")

    def to_dict(self) -> dict[str, str]:
        """The ``[cluster]`` table."""
        return {"dask": self.dask, "shared_dir": self.shared_dir}


@dataclass(frozen=True)
class Fold:
    """One train/test split: two SQL predicates over the digits table."""

    training_where: str
    testing_where: str

    def to_dict(self) -> dict[str, str]:
        """The fold as its two TOML keys."""
        return {"training_where": self.training_where, "testing_where": self.testing_where}


# The split of the digits_train and digits_test views: the rule itself lives in sql/folds.sql.
DEFAULT_FOLD = Fold("NOT is_test_fold(id)", "is_test_fold(id)")
# MNIST's own split (60,000 training and 10,000 test digits): experiments/official.toml.
OFFICIAL_FOLD = Fold("source = 'mnist-train'", "source = 'mnist-test'")


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment; build it with ``from_dict``, ``from_toml`` or ``load_config``."""

    description: str = ""
    input_data: str = DEFAULT_INPUT
    evaluate_train: bool = False
    folds: tuple[Fold, ...] = (DEFAULT_FOLD,)
    spec: ModelSpec = field(default_factory=ModelSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)

    def __post_init__(self) -> None:
        """Check the SQL statically so a bad config fails before any data is read."""
        if not self.folds or len(self.folds) > MAX_FOLDS:
            raise ConfigError(f"folds: give between 1 and {MAX_FOLDS} [[folds]] entries")
        check_input_sql(self.input_data)
        for i, fold in enumerate(self.folds):
            for key in _FOLD_KEYS:
                check_predicate(getattr(fold, key), f"folds[{i}].{key}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Parse and validate the TOML/JSON keys; raises ``ConfigError`` naming the bad key."""
        data = table("", data, _KEYS)
        return cls(
            description=_typed(data, "description", ""),
            input_data=_typed(data, "input_data", DEFAULT_INPUT).strip().rstrip(";"),
            evaluate_train=_typed(data, "evaluate_train", False),
            folds=_parse_folds(data.get("folds")),
            spec=ModelSpec.from_dict(**{key: data.get(key, {}) for key in _SECTIONS}),
            cluster=ClusterSpec(**table("cluster", data.get("cluster", {}), _CLUSTER_KEYS)),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> ExperimentConfig:
        """Read and validate a TOML experiment file."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such experiment file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-able keys, every hyperparameter filled in; ``from_dict`` reads them back."""
        return {
            "description": self.description,
            "input_data": self.input_data,
            "evaluate_train": self.evaluate_train,
            "folds": [fold.to_dict() for fold in self.folds],
            **copy.deepcopy(self.spec.to_dict()),
            # Where it trained does not change the model; kept only when a cluster was named.
            **({"cluster": self.cluster.to_dict()} if self.cluster.dask else {}),
        }


def load_config(path: str | Path | None = None) -> ExperimentConfig:
    """Load ``path``, or with None the shipped ``experiments/default.toml`` (else defaults)."""
    if path is not None:
        return ExperimentConfig.from_toml(path)
    from mlpaint.resources import resource_dir

    try:
        default = resource_dir("experiments") / "default.toml"
    except FileNotFoundError:
        return ExperimentConfig()
    return ExperimentConfig.from_toml(default) if default.is_file() else ExperimentConfig()


def _typed(data: dict[str, Any], key: str, default: Any, where: str = "") -> Any:
    """``data[key]`` (``default`` when absent), checked to have the type of ``default``."""
    return check_type(f"{where}.{key}" if where else key, data.get(key, default), default)


def _parse_folds(raw: Any) -> tuple[Fold, ...]:
    """The ``[[folds]]`` array of tables; absent means the single default 80/20 split."""
    if raw is None:
        return (DEFAULT_FOLD,)
    if not isinstance(raw, list) or not raw:
        raise ConfigError("folds must be a non-empty array of tables ([[folds]])")
    folds = []
    for i, entry in enumerate(raw):
        where = f"folds[{i}]"
        entry = table(where, entry, _FOLD_KEYS, required=_FOLD_KEYS)
        folds.append(Fold(*(_typed(entry, key, "", where) for key in _FOLD_KEYS)))
    return tuple(folds)


def parse_select(sql: str, key: str) -> dict[str, Any]:
    """Parse ``sql`` as exactly one SELECT (no database needed) and return DuckDB's syntax tree."""
    if not sql.strip():
        raise ConfigError(f"{key} is empty")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"{key}: {exc}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(f"{key} must be a single SELECT statement")
    tree = sqlguard.syntax_tree(sql)
    if tree.get("error"):
        raise ConfigError(f"{key}: {tree.get('error_message', 'cannot be parsed')}")
    return tree


def base_tables(node: Any) -> list[tuple[str, str, str]]:
    """Every (catalog, schema, table) a syntax tree reads by name (CTE names included)."""
    found: list[tuple[str, str, str]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "BASE_TABLE":
                found.append(
                    (item.get("catalog_name", ""), item.get("schema_name", ""), item["table_name"])
                )
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check_input_sql(sql: str) -> None:
    """Check ``input_data``: one SELECT that reads the unqualified ``digits`` table."""
    tables = base_tables(parse_select(sql, "input_data"))
    names = [(c, s, t.lower()) for c, s, t in tables]
    qualified = [".".join(p for p in ref if p) for ref in names if ref[2] == TABLE and ref[1]]
    if qualified:
        raise ConfigError(
            f"input_data reads {qualified[0]}, which bypasses the folds; write plain `digits`"
        )
    if ("", "", TABLE) not in names:
        raise ConfigError("input_data must read the digits table (the folds filter it)")


def check_predicate(predicate: str, key: str) -> None:
    """Check a fold predicate: a single boolean expression, not a statement of its own."""
    if not predicate.strip():
        raise ConfigError(f"{key} is empty")
    parse_select(f"SELECT * FROM {TABLE} WHERE ({predicate}\n)", key)


def fold_query(config: ExperimentConfig, predicate: str) -> str:
    """The SQL that yields ``input_data`` over the digits rows ``predicate`` keeps."""
    # The predicate and input_data are the database owner's own SQL by design (like a view);
    # they were parsed above as one expression and one SELECT. The newlines end any -- comment.
    return (
        f"WITH {TABLE} AS (SELECT * FROM main.{TABLE} WHERE ({predicate}\n))\n"
        f"SELECT * FROM (\n{config.input_data}\n)"
    )
