"""mlpaint import: the vendored MNIST, other sources, and bad input that must change nothing."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import read_idx, write_idx, write_idx_pair
from mlpaint.cli import main
from mlpaint.sources import SourceError, read_idx_pair


def fingerprint(connect_ro, path: Path) -> tuple:
    """Everything that would change if an import wrote anything."""
    con = connect_ro(path)
    row = con.execute(
        "SELECT count(*), sum(id), md5(string_agg(label::VARCHAR || source || pixels::VARCHAR, ',' "
        "ORDER BY id)) FROM digits"
    ).fetchone()
    con.close()
    return row


def test_full_import_matches_the_idx_files(full_db: Path, connect_ro) -> None:
    con = connect_ro(full_db)
    assert con.execute("SELECT count(*), min(id), max(id) FROM digits").fetchone() == (
        70000,
        0,
        69999,
    )
    sources = con.execute(
        "SELECT source, count(*), min(id), max(id) FROM digits GROUP BY source ORDER BY min(id)"
    ).fetchall()
    assert sources == [("mnist-train", 60000, 0, 59999), ("mnist-test", 10000, 60000, 69999)]
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'digits'"
        ).fetchall()
    )
    assert types == {
        "id": "INTEGER",
        "label": "UTINYINT",
        "pixels": "UTINYINT[784]",
        "source": "VARCHAR",
    }
    train_images, test_images = (
        read_idx("train-images-idx3-ubyte.gz"),
        read_idx("t10k-images-idx3-ubyte.gz"),
    )
    train_labels = read_idx("train-labels-idx1-ubyte.gz")
    for digit_id, image, label in [
        (0, train_images[0], train_labels[0]),
        (59999, train_images[-1], train_labels[-1]),
        (60000, test_images[0], None),
        (69999, test_images[-1], None),
    ]:
        stored_label, pixels = con.execute(
            "SELECT label, pixels FROM digits WHERE id = ?", [digit_id]
        ).fetchone()
        assert np.array_equal(np.array(pixels, dtype=np.uint8), image.reshape(-1))
        if label is not None:
            assert stored_label == label


def test_reimport_is_a_noop_and_replace_reloads(
    small_db: Path, tmp_path: Path, capsys, connect_ro, mnist_train
) -> None:
    before = fingerprint(connect_ro, small_db)
    assert main(["import", "--db", str(small_db), "--source", "ignored-when-loaded.csv"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert fingerprint(connect_ro, small_db) == before
    images, labels = mnist_train
    source = write_idx_pair(tmp_path / "other", images[100:150], labels[100:150], "train")
    assert main(["import", "--db", str(small_db), "--source", str(source), "--replace"]) == 0
    assert "Replaced" in capsys.readouterr().out
    con = connect_ro(small_db)
    assert con.execute("SELECT count(*) FROM digits").fetchone() == (50,)
    assert con.execute("SELECT count(*) FROM digits_test").fetchone()[0] > 0


def _truncated(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path = write_idx_pair(folder, images, labels, "train")
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    return path


def _wrong_magic(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path = write_idx_pair(folder, images, labels, "train")
    write_idx(path, images, 0x804)
    return path


def _mismatched(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    return write_idx_pair(folder, images, labels[:-1], "train")


def _label_11(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    bad = labels.copy()
    bad[5] = 11
    return write_idx_pair(folder, images, bad, "train")


def _csv(folder: Path, images: np.ndarray, labels: np.ndarray, header: bool = False) -> Path:
    rows = np.column_stack([images.reshape(len(images), -1), labels]).astype(np.int64)
    path = folder / "digits_data.csv"
    lines = [",".join(f"pixel{i}" for i in range(784)) + ",label"] if header else []
    lines += [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _pixel_300(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path = _csv(folder, images, labels)
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[200] = "300"
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv_784_columns(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path = folder / "short.csv"
    path.write_text(
        "\n".join(
            ",".join(map(str, [*img.reshape(-1)[:783].tolist(), lab]))
            for img, lab in zip(images, labels, strict=True)
        )
        + "\n"
    )
    return path


BAD_SOURCES = {
    "truncated": (_truncated, "truncated"),
    "wrong magic": (_wrong_magic, "magic"),
    "mismatched counts": (_mismatched, "labels for"),
    "label 11": (_label_11, "label 11"),
    "pixel 300": (_pixel_300, "pixel value 300"),
    "784 columns": (_csv_784_columns, "784 columns"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_bad_source_exits_2_and_changes_nothing(
    case: str, small_db: Path, tmp_path: Path, capsys, connect_ro, mnist_train
) -> None:
    make, expected = BAD_SOURCES[case]
    images, labels = mnist_train
    folder = tmp_path / "bad"
    folder.mkdir()
    source = make(folder, images[:20], labels[:20])
    before = fingerprint(connect_ro, small_db)
    status = main(["import", "--db", str(small_db), "--source", str(source), "--replace"])
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err and str(source.parent) in err
    assert "not changed" in err
    assert fingerprint(connect_ro, small_db) == before
    fresh = tmp_path / "fresh.duckdb"
    assert main(["import", "--db", str(fresh), "--source", str(source)]) == 2
    assert not fresh.exists()


def test_vendored_checksum_is_verified(tmp_path: Path, mnist_train) -> None:
    images, labels = mnist_train
    folder = tmp_path / "tampered"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:10], 0x803)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:10], 0x801)
    with pytest.raises(SourceError, match="sha256"):
        read_idx_pair(
            folder / "t10k-images-idx3-ubyte.gz",
            folder / "t10k-labels-idx1-ubyte.gz",
            "mnist-test",
            verify=True,
        )


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("compress", [False, True])
def test_csv_source(tmp_path: Path, connect_ro, mnist_train, header: bool, compress: bool) -> None:
    images, labels = mnist_train
    path = _csv(tmp_path, images[:40], labels[:40], header=header)
    if compress:
        gz = path.with_name(path.name + ".gz")
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    db = tmp_path / "csv.duckdb"
    assert main(["import", "--db", str(db), "--source", str(path)]) == 0
    con = connect_ro(db)
    rows = con.execute("SELECT label, pixels, source FROM digits ORDER BY id").fetchall()
    assert len(rows) == 40
    assert [r[0] for r in rows] == labels[:40].tolist()
    assert np.array_equal(np.array([r[1] for r in rows]), images[:40].reshape(40, -1))
    assert rows[0][2] == "digits_data"


def test_parquet_source(tmp_path: Path, small_db: Path, connect_ro) -> None:
    con = connect_ro(small_db)
    parquet = tmp_path / "digits.parquet"
    con.execute(
        "COPY (SELECT label, pixels FROM digits WHERE id < 25 ORDER BY id) TO "
        f"'{parquet}' (FORMAT parquet)"
    )
    db = tmp_path / "pq.duckdb"
    assert main(["import", "--db", str(db), "--source", str(parquet)]) == 0
    expected = con.execute("SELECT label, pixels FROM digits WHERE id < 25 ORDER BY id").fetchall()
    assert connect_ro(db).execute("SELECT label, pixels FROM digits ORDER BY id").fetchall() == (
        expected
    )


# Before the Parquet reader shared the pixel checks, a pixel 2.5 or a label 3.5 was truncated and
# stored, a NULL row was called a wrong length, and a NULL value or label showed a garbled number.
BAD_PARQUET = {
    "fractional pixel": (
        "list_resize([2.5::DOUBLE], 784, 0.0)",
        "label",
        "pixel values must be whole numbers 0..255, got 2.5",
    ),
    "NULL row": ("CASE WHEN id = 3 THEN NULL ELSE pixels END", "label", "pixels is NULL in 1 rows"),
    "NULL value": ("list_resize([NULL::INT], 784, 0)", "label", "must not contain NULL values"),
    "NULL label": ("pixels", "CASE WHEN id = 3 THEN NULL ELSE label END", "'label'"),
    "fractional label": ("pixels", "label + 0.5", "'label'"),
}


@pytest.mark.parametrize("case", list(BAD_PARQUET))
def test_bad_parquet_exits_2_and_changes_nothing(
    case: str, tmp_path: Path, small_db: Path, capsys, connect_ro
) -> None:
    pixels, label, expected = BAD_PARQUET[case]
    parquet = tmp_path / "bad.parquet"
    con = connect_ro(small_db)
    con.execute(
        f"COPY (SELECT {label} AS label, {pixels} AS pixels FROM digits WHERE id < 25 "
        f"ORDER BY id) TO '{parquet}' (FORMAT parquet)"
    )
    con.close()
    before = fingerprint(connect_ro, small_db)
    status = main(["import", "--db", str(small_db), "--source", str(parquet), "--replace"])
    err = capsys.readouterr().err
    assert status == 2 and expected in err and str(parquet) in err
    assert fingerprint(connect_ro, small_db) == before


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a temporary folder."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_sources(http_folder, tmp_path: Path, connect_ro, mnist_train) -> None:
    folder, base = http_folder
    images, labels = mnist_train
    write_idx_pair(folder, images[:30], labels[:30], "train")
    db = tmp_path / "url.duckdb"
    url = f"{base}/train-images-idx3-ubyte.gz"
    assert main(["import", "--db", str(db), "--source", url]) == 0
    assert connect_ro(db).execute("SELECT count(*), min(source) FROM digits").fetchone() == (
        30,
        "mnist-train",
    )
    file_db = tmp_path / "file.duckdb"
    file_url = (folder / "train-images-idx3-ubyte.gz").as_uri()
    assert main(["import", "--db", str(file_db), "--source", file_url]) == 0
    missing = tmp_path / "missing.duckdb"
    assert main(["import", "--db", str(missing), "--source", f"{base}/nope.csv"]) == 2
    assert not missing.exists()


def test_fold_hash_is_md5_and_pinned(full_db: Path, connect_ro) -> None:
    con = connect_ro(full_db)
    test_ids = [r[0] for r in con.execute("SELECT id FROM digits_test ORDER BY id").fetchall()]
    assert len(test_ids) == 13902
    assert hashlib.md5(",".join(map(str, test_ids)).encode()).hexdigest() == (PINNED_TEST_IDS_MD5)
    python_side = [
        i
        for i in range(70000)
        if int.from_bytes(hashlib.md5(str(i).encode()).digest()[:8], "big") % 5 == 0
    ]
    assert python_side == test_ids
    folds = dict(con.execute("SELECT fold, count(*) FROM digits_folds GROUP BY fold").fetchall())
    assert sorted(folds) == [0, 1, 2, 3, 4] and folds[0] == 13902
    assert con.execute("SELECT count(*) FROM digits_train").fetchone() == (70000 - 13902,)


PINNED_TEST_IDS_MD5 = "5a71662938b84e120e293e79970b7de2"
