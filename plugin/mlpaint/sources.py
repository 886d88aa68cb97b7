"""Reading digit sources (MNIST IDX pairs, MLDB-style CSV, Parquet, URLs) into checked arrays."""

from __future__ import annotations

import gzip
import hashlib
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from tqdm import tqdm

from mlpaint.pixels import INK, N_CLASSES, N_PIXELS, SIDE, PixelError, arrow_matrix
from mlpaint.resources import resource_dir

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801

# sha256 of the uncompressed vendored files (data/mnist/README.md).
VENDORED_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The vendored pairs in load order, with the `source` each row gets.
VENDORED_PAIRS = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "mnist-train"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "mnist-test"),
)


class SourceError(ValueError):
    """A source file is unreadable or fails a check; the message names the file and the problem."""


@dataclass
class DigitBatch:
    """Checked digits from one source: pixels (n, 784) uint8, labels (n,) uint8, a source name."""

    pixels: np.ndarray
    labels: np.ndarray
    source: str


def read_vendored() -> list[DigitBatch]:
    """Read the vendored MNIST files, verifying their uncompressed sha256 first."""
    folder = resource_dir("data/mnist")
    batches = []
    for images, labels, source in VENDORED_PAIRS:
        batches.append(read_idx_pair(folder / images, folder / labels, source, verify=True))
    return batches


def read_source(spec: str, workdir: Path) -> list[DigitBatch]:
    """Read one ``--source``: a path or URL of an IDX images file, a CSV, a Parquet, or a folder."""
    path = fetch(spec, workdir)
    if path.is_dir():
        return read_idx_folder(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return [read_csv(path)]
    if name.endswith(".parquet"):
        return [read_parquet(path)]
    if "labels" in name:
        raise SourceError(f"{path}: give the images file of an IDX pair, not the labels file")
    return [read_idx_pair(path, idx_labels_for(path), _source_name(path), verify=False)]


def fetch(spec: str, workdir: Path) -> Path:
    """Return a local path for ``spec``, downloading http(s) URLs into ``workdir`` with a bar."""
    parsed = urllib.parse.urlparse(spec)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme not in ("http", "https"):
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"{spec}: no such file")
        return path
    target = _download(spec, workdir)
    if "images-idx3" in target.name:
        # An IDX images URL needs its labels file, which sits beside it by MNIST's naming.
        _download(spec.replace("images-idx3", "labels-idx1"), workdir)
    return target


def _download(url: str, workdir: Path) -> Path:
    target = workdir / (Path(urllib.parse.urlparse(url).path).name or "download")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
    except OSError as exc:
        raise SourceError(f"{url}: download failed: {exc}") from exc
    return target


def idx_labels_for(images: Path) -> Path:
    """Return the labels file that pairs with an IDX images file (``*-images-idx3-*`` naming)."""
    if "images-idx3" not in images.name:
        raise SourceError(
            f"{images}: not a CSV or Parquet file, and not named like an IDX images file "
            "(*-images-idx3-ubyte[.gz]) whose labels file sits beside it"
        )
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    if not labels.exists():
        raise SourceError(f"{images}: its labels file {labels.name} is missing")
    return labels


def read_idx_folder(folder: Path) -> list[DigitBatch]:
    """Read the MNIST IDX pairs found in ``folder`` (train first, then t10k)."""
    batches = []
    for images, _labels, source in VENDORED_PAIRS:
        for candidate in (folder / images, folder / images.removesuffix(".gz")):
            if candidate.exists():
                batches.append(read_idx_pair(candidate, idx_labels_for(candidate), source))
                break
    if not batches:
        raise SourceError(f"{folder}: no MNIST IDX files (train-images-idx3-ubyte[.gz]) in it")
    return batches


def read_idx_pair(images: Path, labels: Path, source: str, *, verify: bool = False) -> DigitBatch:
    """Read and check an IDX images file and its labels file."""
    image_bytes, label_bytes = _read_bytes(images), _read_bytes(labels)
    if verify:
        _verify_sha256(images, image_bytes)
        _verify_sha256(labels, label_bytes)
    pixels = _parse_idx(images, image_bytes, IMAGE_MAGIC, ndim=3)
    label_array = _parse_idx(labels, label_bytes, LABEL_MAGIC, ndim=1)
    if pixels.shape[1:] != (SIDE, SIDE):
        raise SourceError(f"{images}: images are {pixels.shape[1]}x{pixels.shape[2]}, not 28x28")
    if len(pixels) != len(label_array):
        raise SourceError(
            f"{labels}: {len(label_array)} labels for {len(pixels)} images in {images.name}"
        )
    _check_labels(labels, label_array)
    return DigitBatch(pixels.reshape(-1, N_PIXELS), label_array, source)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from exc


def _verify_sha256(path: Path, data: bytes) -> None:
    expected = VENDORED_SHA256.get(path.name.removesuffix(".gz"))
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise SourceError(f"{path}: sha256 {actual} does not match the expected {expected}")


def _parse_idx(path: Path, data: bytes, magic: int, ndim: int) -> np.ndarray:
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SourceError(f"{path}: truncated IDX header ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise SourceError(f"{path}: wrong IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise SourceError(
            f"{path}: truncated or padded: {len(data) - header} data bytes, header says {expected}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _check_labels(path: Path, labels: np.ndarray) -> None:
    outside = (labels < 0) | (labels >= N_CLASSES)
    if outside.any():
        bad = int(np.argmax(outside))
        raise SourceError(f"{path}: label {int(labels[bad])} at row {bad} is not a digit 0..9")


def read_csv(path: Path) -> DigitBatch:
    """Read an MLDB ``digits_data.csv`` layout: 784 pixel columns, then the label column."""
    con = duckdb.connect()
    try:
        rel = con.read_csv(str(path), header=_csv_has_header(path))
        if len(rel.columns) != N_PIXELS + 1:
            raise SourceError(
                f"{path}: {len(rel.columns)} columns; expected 785 (784 pixels, then the label)"
            )
        columns = rel.fetchnumpy()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot read as CSV: {exc}") from exc
    finally:
        con.close()
    values = np.column_stack([_integral(path, name, col) for name, col in columns.items()])
    pixels, labels = values[:, :N_PIXELS], values[:, N_PIXELS]
    _check_range(path, pixels)
    _check_labels(path, labels)
    return DigitBatch(pixels.astype(np.uint8), labels.astype(np.uint8), _source_name(path))


def _csv_has_header(path: Path) -> bool:
    """Tell whether the first line is a header: its first field is not a number."""
    # DuckDB's sniffer cannot tell a header from data when every column is numeric.
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split(",", 1)[0].strip().strip('"')
    try:
        float(first)
    except ValueError:
        return True
    return False


def _integral(path: Path, name: str, column: np.ndarray) -> np.ndarray:
    if np.ma.isMaskedArray(column) and column.mask.any():
        raise SourceError(f"{path}: column {name!r} has empty values")
    data = np.asarray(column)
    if not np.issubdtype(data.dtype, np.number) or not np.all(np.mod(data, 1) == 0):
        raise SourceError(f"{path}: column {name!r} holds values that are not whole numbers")
    return data.astype(np.int64)


def _check_range(path: Path, pixels: np.ndarray) -> None:
    if pixels.size and (pixels.min() < 0 or pixels.max() > INK):
        row, col = np.argwhere((pixels < 0) | (pixels > INK))[0]
        raise SourceError(
            f"{path}: pixel value {int(pixels[row, col])} at row {row}, column {col} "
            "is outside 0..255"
        )


def read_parquet(path: Path) -> DigitBatch:
    """Read a Parquet file with a ``label`` column and a 784-value ``pixels`` list column."""
    con = duckdb.connect()
    try:
        rel = con.read_parquet(str(path))
        missing = {"label", "pixels"} - set(rel.columns)
        if missing:
            raise SourceError(f"{path}: Parquet file lacks column(s) {', '.join(sorted(missing))}")
        rows = rel.select("pixels, label").to_arrow_table()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot read as Parquet: {exc}") from exc
    finally:
        con.close()
    try:
        _, pixels = arrow_matrix(rows["pixels"], str(path), keep_nulls=False, whole=True)
    except PixelError as exc:
        raise SourceError(str(exc)) from exc
    labels = _integral(path, "label", rows["label"].to_numpy())
    _check_labels(path, labels)
    return DigitBatch(pixels, labels.astype(np.uint8), _source_name(path))


def _source_name(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.startswith("train-images"):
        return "mnist-train"
    if name.startswith("t10k-images"):
        return "mnist-test"
    return Path(name).stem


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for downloads, removed when the import ends."""
    return tempfile.TemporaryDirectory(prefix="mlpaint-import-")
