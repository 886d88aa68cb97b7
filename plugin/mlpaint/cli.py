"""The ``mlpaint`` command line: import, sql, train, models, serve, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from mlpaint import __version__, db
from mlpaint.commanderror import EXIT_BAD_INPUT, CommandError
from mlpaint.sqlrunner import FORMATS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.handler(args) or 0
    except CommandError as exc:
        print(f"mlpaint {args.command}: {exc}", file=sys.stderr)
        return exc.status
    except (db.DatabaseBusyError, db.DatabaseError, db.MissingDatabaseError) as exc:
        print(f"mlpaint {args.command}: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:
        # A file damaged past the parts DuckDB checks on opening fails on reading instead.
        path = db.resolve_db_path(args.db)
        print(f"mlpaint {args.command}: {path}: {db.error_reason(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mlpaint {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-command per verb."""
    parser = argparse.ArgumentParser(prog="mlpaint", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlpaint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, configure, handler in _COMMANDS:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--db", help="database file (default: $MLPAINT_DB or ./mlpaint.duckdb)")
        configure(sub)
        sub.set_defaults(handler=handler)
    return parser


def _configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        nargs="+",
        action="extend",
        metavar="PATH_OR_URL",
        help="IDX images file (labels beside it), MNIST folder, CSV, Parquet, or URL "
        "(default: the vendored MNIST files)",
    )
    p.add_argument("--replace", action="store_true", help="reload even if digits are present")


def _cmd_import(args: argparse.Namespace) -> int:
    from mlpaint.importer import import_digits
    from mlpaint.sources import SourceError

    try:
        result = import_digits(args.db, args.source, replace=args.replace)
    except SourceError as exc:
        raise CommandError(f"{exc}; the database was not changed", EXIT_BAD_INPUT) from exc
    print(result.message)
    return 0


def _configure_sql(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="?", help="SQL to run (or use -f FILE)")
    p.add_argument("-f", "--file", type=Path, help="a SQL script to run")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument(
        "--write",
        action="store_true",
        help="open the database read-write, so statements may change it (default: read-only)",
    )


def _cmd_sql(args: argparse.Namespace) -> int:
    from mlpaint.sqlrunner import print_results

    if bool(args.query) == bool(args.file):
        raise CommandError("give a QUERY or -f FILE (one of them)", EXIT_BAD_INPUT)
    text = args.query or _read_text(args.file)
    con = _open_for_sql(args.db, write=args.write)
    try:
        _register_functions(con)
        print_results(con, text, args.format, sys.stdout)
    except duckdb.Error as exc:
        raise CommandError(str(exc)) from exc
    finally:
        con.close()
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", EXIT_BAD_INPUT) from exc


def _open_for_sql(path: str | None, *, write: bool) -> duckdb.DuckDBPyConnection:
    """Read-only unless ``write``: user SQL runs on a connection that cannot change the file."""
    db.existing_db_path(path)
    return db.connect(path, read_only=not write)


def _register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Make the ml_* functions available when the database holds a model."""
    from mlpaint import sqlfunctions

    sqlfunctions.register_if_available(con)


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, help="experiment TOML (default: the shipped default.toml)"
    )
    p.add_argument("--name", help="model name (default: the config file's stem)")
    _add_cluster_option(p, "train the bags on")
    p.add_argument(
        "--shared-dir",
        metavar="DIR",
        help="folder every Dask worker reaches, for a copy of the training data "
        "(default: the database's folder)",
    )


def _add_cluster_option(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help=f"Dask cluster to {verb}: a scheduler address (tcp://host:8786) or local:N "
        "for N local worker processes (default: this process)",
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from mlpaint import trainclient

    return trainclient.train_command(
        args.db, args.config, args.name, dask=args.dask, shared_dir=args.shared_dir
    )


def _configure_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input", required=True, metavar="GLOB", help="Parquet shards with id and pixels columns"
    )
    p.add_argument(
        "--output", required=True, metavar="DIR", help="folder for one predictions file a shard"
    )
    p.add_argument("--model", metavar="NAME", help="model to score with (default: the active one)")
    _add_cluster_option(p, "score the shards on")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local processes when no cluster is named (default: one per core)",
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from mlpaint import predictcommand

    return predictcommand.predict_command(
        args.db, args.input, args.output, args.model, dask=args.dask, workers=args.workers
    )


def _configure_models(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    activate = actions.add_parser("activate", help="make NAME [VERSION] the active model")
    activate.add_argument("name")
    activate.add_argument("version", nargs="?", type=int)


def _cmd_models(args: argparse.Namespace) -> int:
    from mlpaint import trainclient

    if args.action == "activate":
        return trainclient.activate_command(args.db, args.name, args.version)
    return trainclient.list_command(args.db)


def _configure_serve(p: argparse.ArgumentParser) -> None:
    _add_server_options(p)
    p.add_argument(
        "--allow-training",
        action="store_true",
        help="open the database read-write and accept training and activation requests",
    )


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="server processes (default: one per core; 1 when training is allowed)",
    )
    p.add_argument("--threads", type=int, default=2, help="threads per process (default 2)")


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlpaint import server

    return server.serve(
        args.db,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        allow_training=args.allow_training,
    )


def _configure_demo(p: argparse.ArgumentParser) -> None:
    _add_server_options(p)
    p.add_argument(
        "--config",
        type=Path,
        help="experiment to train when there is no model (default: experiments/default.toml)",
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from mlpaint import demo
    from mlpaint.experiment import ConfigError
    from mlpaint.sources import SourceError

    try:
        return demo.run_demo(
            args.db, host=args.host, port=args.port, threads=args.threads, config_path=args.config
        )
    except (ConfigError, SourceError, OSError) as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from exc


_COMMANDS: list[
    tuple[
        str,
        str,
        Callable[[argparse.ArgumentParser], None],
        Callable[[argparse.Namespace], int],
    ]
] = [
    (
        "import",
        "import MNIST (or a CSV/Parquet/IDX source) into DuckDB",
        _configure_import,
        _cmd_import,
    ),
    ("sql", "run a SQL query or script, with the ml_* functions", _configure_sql, _cmd_sql),
    ("train", "train a model from an experiment config", _configure_train, _cmd_train),
    ("models", "list models, or activate one", _configure_models, _cmd_models),
    (
        "predict",
        "score Parquet shards of digits into Parquet files, here or on a Dask cluster",
        _configure_predict,
        _cmd_predict,
    ),
    ("serve", "serve the REST API and the paint page", _configure_serve, _cmd_serve),
    ("demo", "import, train if needed, and serve the paint page", _configure_demo, _cmd_demo),
]
