"""Tests of fedmed_lib.data: loaders, search order, download, verification, errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets

from fedmed_lib import data

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # ../shared/data relative to the repository
needs_shared = pytest.mark.skipif(
    not (SHARED / "heart_disease").is_dir(),
    reason=f"shared reference data not found at {SHARED} (../shared/data)",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache and no FEDMED_DATA_DIR unless it sets one."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FEDMED_CACHE_DIR", str(cache))
    monkeypatch.delenv("FEDMED_DATA_DIR", raising=False)
    return cache


def _files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- scikit-learn sets ----------------------------------------------------------------


def test_load_diabetes_matches_sklearn() -> None:
    X, y, names = data.load_diabetes()
    ref = datasets.load_diabetes()
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.shape == (442, 10) and y.shape == (442,)
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    assert names == list(ref.feature_names)


def test_load_breast_cancer_matches_sklearn_and_malignant_is_one() -> None:
    X, y, names = data.load_breast_cancer()
    ref = datasets.load_breast_cancer()
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.shape == (569, 30)
    malignant = list(ref.target_names).index("malignant")  # scikit-learn: 0 = malignant
    np.testing.assert_array_equal(y, (ref.target == malignant).astype(np.int64))
    assert int(y.sum()) == 212 and int((y == 0).sum()) == 357  # WDBC: 212 malignant
    assert names == list(ref.feature_names)


def test_every_diagnosis_loader_names_its_positive_class_the_disease() -> None:
    loaders = {n for n in data.__all__ if n.startswith("load_")}
    diagnosis = loaders - {"load_diabetes", "load_chembl2321810"}  # regression targets
    assert set(data.POSITIVE_CLASS) == diagnosis
    assert data.POSITIVE_CLASS["load_breast_cancer"] == "malignant"
    assert data.POSITIVE_CLASS["load_breastmnist"] == "malignant"
    assert data.POSITIVE_CLASS["load_heart_disease"].startswith("heart disease")


def test_constants() -> None:
    assert data.HEART_SITES == ("cleveland", "hungarian", "switzerland", "va")
    assert list(data.HEART_SITE_NAMES) == list(data.HEART_SITES)
    assert data.HEART_SITE_NAMES["va"] == "Long Beach VA"
    assert len(data.HEART_FEATURES) == 13
    assert data.HEART_FEATURES[0] == "age" and data.HEART_FEATURES[-1] == "thal"
    with pytest.raises(ValueError, match="unknown heart-disease site 'boston'"):
        data.heart_file("boston")


def test_cache_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("FEDMED_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "fedmed"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "fedmed"


# --- loading the shared copies ----------------------------------------------------------


@needs_shared
def test_heart_from_shared_copy(monkeypatch: pytest.MonkeyPatch, _isolated: Path) -> None:
    monkeypatch.setenv("FEDMED_DATA_DIR", str(SHARED))
    sites = data.load_heart_disease(download=False)
    assert list(sites) == list(data.HEART_SITES)
    assert {s: len(y) for s, (_, y) in sites.items()} == {
        "cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200,
    }
    for site, (X, y) in sites.items():
        assert X.dtype == np.float64 and X.shape == (len(y), 13)
        assert y.dtype == np.int64 and set(np.unique(y)) <= {0, 1}
        # independent parse: NaN exactly where the file has '?', raw values elsewhere
        raw = np.genfromtxt(SHARED / data.heart_file(site), delimiter=",", missing_values="?")
        np.testing.assert_array_equal(np.isnan(X), np.isnan(raw[:, :13]))
        np.testing.assert_array_equal(X[~np.isnan(X)], raw[:, :13][~np.isnan(raw[:, :13])])
        np.testing.assert_array_equal(y, (raw[:, 13] > 0).astype(np.int64))
    # Switzerland's cholesterol is recorded as 0 (kept raw; chapter 6 explains it)
    chol = data.HEART_FEATURES.index("chol")
    assert np.nanmax(sites["switzerland"][0][:, chol]) == 0.0
    assert _files_under(_isolated) == []  # nothing copied into the cache


@needs_shared
def test_relative_data_dir_resolves_from_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ../shared/data does not exist from here
    monkeypatch.setenv("FEDMED_DATA_DIR", "../shared/data")
    sites = data.load_heart_disease(download=False)
    assert len(sites["va"][1]) == 200


@needs_shared
def test_explicit_data_dir_comes_before_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad" / "heart_disease"
    bad.mkdir(parents=True)
    for site in data.HEART_SITES:
        (bad / f"processed.{site}.data").write_text("1,2,3\n")
    monkeypatch.setenv("FEDMED_DATA_DIR", str(tmp_path / "bad"))
    sites = data.load_heart_disease(data_dir=SHARED, download=False)
    assert len(sites["cleveland"][1]) == 303
    with pytest.raises(ValueError, match=r"processed\.cleveland\.data: line 1 has 3 columns"):
        data.load_heart_disease(download=False)


@needs_shared
def test_breastmnist_from_shared_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDMED_DATA_DIR", str(SHARED))
    d = data.load_breastmnist(download=False)
    assert set(d) == set(data.BREASTMNIST_SHAPES)
    for key, shape in data.BREASTMNIST_SHAPES.items():
        assert d[key].shape == shape
    assert d["train_images"].dtype == np.uint8
    assert d["train_labels"].dtype == np.int64
    with np.load(SHARED / data.BREASTMNIST_FILE) as raw:
        # MedMNIST: 0 = malignant; the loader returns 1 = malignant (the disease)
        np.testing.assert_array_equal(d["train_labels"], 1 - raw["train_labels"][:, 0])
        assert int(d["train_labels"].sum()) == int((raw["train_labels"] == 0).sum())
        np.testing.assert_array_equal(d["test_images"], raw["test_images"])


def test_corrupt_local_files_name_the_file(tmp_path: Path) -> None:
    heart = tmp_path / "heart_disease"
    heart.mkdir()
    good_row = "63,1,1,145,233,1,2,150,0,2.3,3,0,6,0\n"
    (heart / "processed.cleveland.data").write_text(good_row * 5)
    with pytest.raises(ValueError, match=r"processed\.cleveland\.data: 5 rows, expected 303"):
        data.load_heart_disease(data_dir=tmp_path, download=False)
    (heart / "processed.cleveland.data").write_text(good_row * 303)
    with pytest.raises(ValueError, match="sha256 checksum mismatch"):
        data.load_heart_disease(data_dir=tmp_path, download=False)
    (heart / "processed.cleveland.data").write_text(good_row.replace("63", "abc") * 303)
    with pytest.raises(ValueError, match="line 1 has a non-numeric value"):
        data.load_heart_disease(data_dir=tmp_path, download=False)
    med = tmp_path / "medmnist"
    med.mkdir()
    (med / "breastmnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"breastmnist\.npz: not a readable \.npz"):
        data.load_breastmnist(data_dir=tmp_path, download=False)


def _fake_breastmnist(path: Path, **override: np.ndarray) -> None:
    arrays: dict[str, np.ndarray] = {}
    for key, shape in data.BREASTMNIST_SHAPES.items():
        if key.endswith("_images"):
            arrays[key] = np.zeros(shape, dtype=np.uint8)
        else:
            arrays[key] = np.zeros((shape[0], 1), dtype=np.uint8)
    arrays.update(override)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def test_breastmnist_wrong_keys_shapes_dtypes(tmp_path: Path) -> None:
    (tmp_path / "medmnist").mkdir()
    path = tmp_path / data.BREASTMNIST_FILE
    _fake_breastmnist(path)
    assert data.load_breastmnist(data_dir=tmp_path, download=False)["val_labels"].shape == (78,)
    _fake_breastmnist(path, train_images=np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"train_images has shape \(10, 28, 28\)"):
        data.load_breastmnist(data_dir=tmp_path, download=False)
    _fake_breastmnist(path, test_images=np.zeros((156, 28, 28), np.float32))
    with pytest.raises(ValueError, match="test_images .* dtype float32"):
        data.load_breastmnist(data_dir=tmp_path, download=False)
    _fake_breastmnist(path, extra=np.zeros(3))
    with pytest.raises(ValueError, match="wrong keys"):
        data.load_breastmnist(data_dir=tmp_path, download=False)
    _fake_breastmnist(path, val_labels=np.full((78, 1), 7, np.uint8))
    with pytest.raises(ValueError, match="val_labels must hold only 0 and 1"):
        data.load_breastmnist(data_dir=tmp_path, download=False)


# --- the download path against a local HTTP server ------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve a temporary folder on 127.0.0.1; yield (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _serve_heart(root: Path, monkeypatch: pytest.MonkeyPatch, base: str) -> Path:
    folder = root / "heart-disease"
    folder.mkdir()
    for site in data.HEART_SITES:
        shutil.copy(SHARED / data.heart_file(site), folder)
    monkeypatch.setattr(data, "HEART_BASE_URL", f"{base}/heart-disease/")
    return folder


@needs_shared
def test_download_verifies_and_caches(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    base, root = server
    _serve_heart(root, monkeypatch, base)
    shutil.copy(SHARED / data.BREASTMNIST_FILE, root / "breastmnist.npz")
    monkeypatch.setattr(data, "BREASTMNIST_URL", f"{base}/breastmnist.npz")
    sites = data.load_heart_disease()
    assert {s: len(y) for s, (_, y) in sites.items()} == data.HEART_ROWS
    images = data.load_breastmnist()
    assert images["train_images"].shape == (546, 28, 28)
    expected = [data.BREASTMNIST_FILE] + [data.heart_file(s) for s in data.HEART_SITES]
    assert _files_under(_isolated) == sorted(expected)  # no leftover .part files
    for site in data.HEART_SITES:
        assert (_isolated / data.heart_file(site)).read_bytes() == (
            SHARED / data.heart_file(site)
        ).read_bytes()
    # second time: served from the cache, no network needed
    shutil.rmtree(root / "heart-disease")
    again = data.load_heart_disease(download=False)
    np.testing.assert_array_equal(again["va"][0], sites["va"][0])


@needs_shared
def test_corrupt_download_is_rejected_and_not_cached(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    base, root = server
    folder = _serve_heart(root, monkeypatch, base)
    f = folder / "processed.cleveland.data"
    f.write_text(f.read_text().replace("63.0", "64.0", 1))  # one changed value
    with pytest.raises(ValueError, match=r"processed\.cleveland\.data.*sha256 checksum mismatch"):
        data.load_heart_disease()
    assert _files_under(_isolated) == []


@needs_shared
def test_truncated_download_is_rejected_and_not_cached(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    base, root = server
    folder = _serve_heart(root, monkeypatch, base)
    f = folder / "processed.hungarian.data"
    f.write_bytes(f.read_bytes()[:5000])  # cut in the middle of a line
    with pytest.raises(ValueError, match=r"processed\.hungarian\.data.*expected 14"):
        data.load_heart_disease()
    # cleveland was fine and is cached; hungarian is not
    assert _files_under(_isolated) == [data.heart_file("cleveland")]
    (root / "breastmnist.npz").write_bytes((SHARED / data.BREASTMNIST_FILE).read_bytes()[:20000])
    monkeypatch.setattr(data, "BREASTMNIST_URL", f"{base}/breastmnist.npz")
    with pytest.raises(ValueError, match=r"breastmnist.*not a readable \.npz"):
        data.load_breastmnist()
    assert _files_under(_isolated) == [data.heart_file("cleveland")]


class _ShortHandler(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes, sends 10, then closes the connection."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_connection_cut_short_is_truncated_not_cached(
    monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _ShortHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/breastmnist.npz"
        monkeypatch.setattr(data, "BREASTMNIST_URL", url)
        with pytest.raises(ValueError, match="truncated: got 10 bytes"):
            data.load_breastmnist()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert _files_under(_isolated) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_network_no_copy_says_what_and_where(
    monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/heart-disease/"
    monkeypatch.setattr(data, "HEART_BASE_URL", url)
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_heart_disease()
    msg = str(info.value)
    assert url + "processed.cleveland.data" in msg
    assert str(_isolated / "heart_disease" / "processed.cleveland.data") in msg
    assert "FEDMED_DATA_DIR" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert _files_under(_isolated) == []


def test_download_false_says_what_and_where(_isolated: Path) -> None:
    with pytest.raises(data.DataNotFoundError, match="download=False") as info:
        data.load_breastmnist(download=False)
    msg = str(info.value)
    assert data.BREASTMNIST_URL in msg
    assert str(_isolated / "medmnist" / "breastmnist.npz") in msg
    assert "FEDMED_DATA_DIR" in msg


def test_http_404_is_data_not_found(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    base, _ = server
    monkeypatch.setattr(data, "BREASTMNIST_URL", f"{base}/missing.npz")
    with pytest.raises(data.DataNotFoundError, match="404"):
        data.load_breastmnist()
    assert _files_under(_isolated) == []


def test_heart_disease_reads_only_the_sites_asked_for(tmp_path, monkeypatch):
    """A hospital in a real federation reads its own file and no other."""
    import shutil

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "heart_disease"
    if not shared.is_dir():
        pytest.skip("../shared/data is not beside the clone")
    (tmp_path / "heart_disease").mkdir()
    shutil.copy(shared / "processed.va.data", tmp_path / "heart_disease")
    monkeypatch.delenv("FEDMED_DATA_DIR", raising=False)
    monkeypatch.setenv("FEDMED_CACHE_DIR", str(tmp_path / "empty-cache"))
    out = data.load_heart_disease(data_dir=tmp_path, download=False, sites=["va"])
    assert list(out) == ["va"] and out["va"][0].shape == (200, 13)
    with pytest.raises(ValueError, match="unknown"):
        data.load_heart_disease(data_dir=tmp_path, download=False, sites=["boston"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sites": "va"}, r"sites must be a list of site names, got str \(did you mean \['va'\]\?\)"),
        ({"sites": [3]}, "sites must hold site names"),
        ({"sites": 3}, "sites must be a list of site names"),
        ({"sites": []}, "unknown or no heart-disease sites"),
        ({"data_dir": 3}, "data_dir must be a folder path"),
        ({"data_dir": ""}, "data_dir is an empty string"),
        ({"download": "yes"}, "download must be True or False"),
        ({"download": 1}, "download must be True or False"),
        ({"download": None}, "download must be True or False"),
    ],
)
def test_heart_disease_bad_arguments_fail_before_any_file_is_read(
    kwargs: dict, match: str, _isolated: Path
) -> None:
    with pytest.raises(ValueError, match=match):
        data.load_heart_disease(**kwargs)
    assert _files_under(_isolated) == []  # nothing downloaded or cached


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"data_dir": 1.5}, "data_dir must be a folder path"),
    ({"download": 0}, "download must be True or False"),
])
def test_breastmnist_bad_arguments(kwargs: dict, match: str, _isolated: Path) -> None:
    with pytest.raises(ValueError, match=match):
        data.load_breastmnist(**kwargs)
    assert _files_under(_isolated) == []


@pytest.mark.parametrize("site", [None, 0, ["va"], b"va"])
def test_heart_file_needs_a_site_name(site: object) -> None:
    with pytest.raises(TypeError, match="site must be a heart-disease site name"):
        data.heart_file(site)  # type: ignore[arg-type]
