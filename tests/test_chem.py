"""Tests of fedmed_lib.chem: the loader, fingerprints, Tanimoto, scaffolds and the scaffold split.

Reference checks use RDKit on molecules the chapter does not use (well-known drugs),
hand-computed similarities on tiny bit vectors, and RDKit's own Butina clustering.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.ML.Cluster import Butina

from fedmed_lib import chem
from fedmed_lib import data as fdata

DRUGS = [
    "CC(=O)Oc1ccccc1C(=O)O",            # aspirin
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",       # caffeine
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",       # ibuprofen
    "CC(=O)Nc1ccc(O)cc1",               # paracetamol
    "CN1CCC[C@H]1c1cccnc1",             # nicotine
    "OC(=O)CCCCC",                      # hexanoic acid (no ring)
]


# --- the loader ---------------------------------------------------------------------


def test_loader_reads_the_installed_set() -> None:
    data = fdata.load_chembl2321810()
    assert len(data.smiles) == len(data.ids) == len(data.y) == 1017
    assert len(set(data.ids)) == 1017
    assert data.y.dtype == np.float64 and 4.0 < data.y.min() < data.y.max() < 10.0
    assert data.ids[0] == "1520012" and data.y[0] == pytest.approx(5.48)
    assert data.source == fdata.freewilson_data_dir()


@pytest.fixture
def copy_dir(tmp_path: Path) -> Path:
    for name in chem.CHEMBL2321810_FILES:
        shutil.copy(fdata.freewilson_data_dir() / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_loader_reads_a_copy(copy_dir: Path) -> None:
    data = fdata.load_chembl2321810(data_dir=copy_dir)
    assert len(data.y) == 1017 and data.source == copy_dir


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("CHEMBL2321810_act.csv", "Name,Act", "Name,Value", "header"),
        ("CHEMBL2321810_act.csv", "1520012,5.48", "1520012,abc", "not a number"),
        ("CHEMBL2321810_act.csv", "1520012,5.48", "1520012,15.0", r"outside \[0, 14\]"),
        ("CHEMBL2321810_act.csv", "1520012,5.48", "1520012,nan", r"outside \[0, 14\]"),
        ("CHEMBL2321810_act.csv", "1520011,", "1520012,", "appears twice"),
        ("CHEMBL2321810_act.csv", "1520012,5.48", "9999999,5.48", "the files disagree"),
        ("CHEMBL2321810.smi", " 1520012", " 1520012 extra", "expected 'SMILES id'"),
        ("CHEMBL2321810.smi", " 1520011", " 1520012", "appears twice"),
        ("CHEMBL2321810.smi", "O=S(=O)(Nc1cccs1)", "O=S(=O)(Nc1cccs1", "do not parse"),
    ],
)
def test_loader_refuses_damaged_files(
    copy_dir: Path, name: str, old: str, new: str, message: str
) -> None:
    _edit(copy_dir / name, old, new)
    with pytest.raises(ValueError, match=message):
        fdata.load_chembl2321810(data_dir=copy_dir)


def test_loader_says_which_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="CHEMBL2321810.smi"):
        fdata.load_chembl2321810(data_dir=tmp_path)


# --- fingerprints ---------------------------------------------------------------------


@pytest.mark.parametrize(("radius", "n_bits"), [(2, 2048), (1, 1024), (3, 512)])
def test_fingerprints_equal_rdkit(radius: int, n_bits: int) -> None:
    X = chem.morgan_fingerprints(DRUGS, radius=radius, n_bits=n_bits)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    assert X.shape == (len(DRUGS), n_bits) and X.dtype == np.float64
    for row, smi in zip(X, DRUGS, strict=True):
        assert set(np.flatnonzero(row)) == set(gen.GetFingerprint(Chem.MolFromSmiles(smi)).GetOnBits())


def test_fingerprints_of_nothing_have_the_right_shape() -> None:
    assert chem.morgan_fingerprints([], n_bits=64).shape == (0, 64)


def test_fingerprints_name_the_bad_compound() -> None:
    with pytest.raises(ValueError, match="compound 1"):
        chem.morgan_fingerprints(["CCO", "C1CC", "CCN"])
    with pytest.raises(TypeError, match="not one string"):
        chem.morgan_fingerprints("CCO")
    with pytest.raises(ValueError, match="n_bits"):
        chem.morgan_fingerprints(["CCO"], n_bits=0)


def test_bit_environments_name_the_substructure() -> None:
    aspirin = DRUGS[0]
    X = chem.morgan_fingerprints([aspirin])
    mol = Chem.MolFromSmiles(aspirin)
    for bit in np.flatnonzero(X[0]):
        envs = chem.bit_environments(aspirin, int(bit))
        assert envs, f"bit {bit} is set but has no environment"
        for atom, radius, frag in envs:
            assert 0 <= atom < mol.GetNumAtoms() and 0 <= radius <= 2 and frag
    off = int(np.flatnonzero(X[0] == 0)[0])
    assert chem.bit_environments(aspirin, off) == []
    with pytest.raises(ValueError, match="below n_bits"):
        chem.bit_environments(aspirin, 2048)


def test_bit_environment_of_a_methyl_carbon() -> None:
    # ethane: both carbons are the same radius-0 environment, a methyl carbon
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=0, fpSize=2048)
    bit = next(iter(gen.GetFingerprint(Chem.MolFromSmiles("CC")).GetOnBits()))
    assert chem.bit_environments("CC", bit, radius=0) == [(0, 0, "C"), (1, 0, "C")]


# --- Tanimoto ---------------------------------------------------------------------------


def test_tanimoto_by_hand() -> None:
    A = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    B = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=float)
    expected = np.array([[1 / 3, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(chem.tanimoto(A, B), expected, rtol=0, atol=1e-15)


def test_tanimoto_equals_rdkit_on_random_bit_vectors() -> None:
    rng = np.random.default_rng(5)
    A = (rng.random((12, 300)) < 0.1).astype(float)
    B = (rng.random((9, 300)) < 0.3).astype(float)

    def bitvect(row: np.ndarray) -> DataStructs.ExplicitBitVect:
        v = DataStructs.ExplicitBitVect(len(row))
        for i in np.flatnonzero(row):
            v.SetBit(int(i))
        return v

    fb = [bitvect(r) for r in B]
    S = chem.tanimoto(A, B)
    for i, row in enumerate(A):
        np.testing.assert_allclose(S[i], DataStructs.BulkTanimotoSimilarity(bitvect(row), fb),
                                   rtol=0, atol=1e-15)


def test_nearest_neighbour_similarity() -> None:
    A = np.array([[1, 1, 0], [0, 0, 1]], dtype=float)
    B = np.array([[1, 0, 0], [1, 1, 1]], dtype=float)
    np.testing.assert_allclose(chem.nearest_neighbour_similarity(A, B), [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="B is empty"):
        chem.nearest_neighbour_similarity(A, np.zeros((0, 3)))


@pytest.mark.parametrize(
    ("A", "B", "message"),
    [
        (np.array([[0.5, 1.0]]), np.array([[1.0, 0.0]]), "0/1 bits"),
        (np.array([[1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]]), "bits per row"),
        (np.array([1.0, 0.0]), np.array([[1.0, 0.0]]), "2-D"),
        (np.array([[np.nan, 1.0]]), np.array([[1.0, 0.0]]), "NaN"),
    ],
)
def test_tanimoto_refuses_bad_input(A: np.ndarray, B: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        chem.tanimoto(A, B)


# --- scaffolds and clustering ---------------------------------------------------------------


def test_murcko_scaffolds_equal_rdkit_and_known_answers() -> None:
    got = chem.murcko_scaffolds(DRUGS)
    assert got == [MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(s)) for s in DRUGS]
    assert got[0] == "c1ccccc1"       # aspirin: the ring only
    assert got[2] == "c1ccccc1"       # ibuprofen
    assert got[5] == ""               # no ring, no scaffold


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_butina_equals_rdkit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fps = (rng.random((40, 64)) < 0.25).astype(float)
    fps[10:20] = fps[0] * (rng.random((10, 64)) < 0.9)      # a tight group
    sim = chem.tanimoto(fps, fps)
    ours = chem.butina_clusters(sim, threshold=0.5)
    dists = [1 - sim[i, j] for i in range(1, 40) for j in range(i)]
    theirs = Butina.ClusterData(dists, 40, 0.5, isDistData=True)
    assert [c[0] for c in ours] == [c[0] for c in theirs]           # same centroids, same order
    assert [sorted(c) for c in ours] == [sorted(c) for c in theirs]
    assert sorted(i for c in ours for i in c) == list(range(40))


def test_butina_refuses_an_asymmetric_matrix() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        chem.butina_clusters(np.array([[1.0, 0.2], [0.3, 1.0]]), threshold=0.5)


# --- the scaffold split ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaffolds() -> list[str]:
    return chem.murcko_scaffolds(fdata.load_chembl2321810().smiles)


def test_scaffold_split_keeps_series_together(scaffolds: list[str]) -> None:
    parts, holdout = chem.scaffold_split(scaffolds, num_clients=4, holdout_fraction=0.15, seed=3)
    n = len(scaffolds)
    everything = np.concatenate(parts + [holdout])
    np.testing.assert_array_equal(np.sort(everything), np.arange(n))      # each compound once
    owners = [{scaffolds[i] for i in p} for p in parts] + [{scaffolds[i] for i in holdout}]
    for a in range(len(owners)):
        for b in range(a):
            assert not owners[a] & owners[b], "a scaffold is split between two owners"
    assert 0 < len(holdout) <= 0.15 * n
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) < 0.25 * max(sizes)                    # roughly balanced
    assert all(p.dtype == np.int64 for p in parts) and holdout.dtype == np.int64


def test_scaffold_split_is_seeded(scaffolds: list[str]) -> None:
    a = chem.scaffold_split(scaffolds, num_clients=3, seed=7)
    b = chem.scaffold_split(scaffolds, num_clients=3, seed=7)
    c = chem.scaffold_split(scaffolds, num_clients=3, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a[0] + [a[1]], b[0] + [b[1]], strict=True))
    assert not np.array_equal(a[1], c[1])


def test_scaffold_split_without_holdout() -> None:
    scaf = ["c1ccccc1", "c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCNCC1", "c1ccccc1"]
    parts, holdout = chem.scaffold_split(scaf, num_clients=2, holdout_fraction=0.0, threshold=0.99)
    assert len(holdout) == 0
    assert sorted(np.concatenate(parts).tolist()) == list(range(6))
    benzene_owner = [k for k, p in enumerate(parts) if 0 in p]
    assert all(i in parts[benzene_owner[0]] for i in (0, 1, 5))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_clients": 0}, ValueError, "num_clients"),
        ({"num_clients": 2.5}, TypeError, "num_clients"),
        ({"num_clients": 50}, ValueError, "cannot feed"),
        ({"num_clients": 2, "holdout_fraction": 1.0}, ValueError, "holdout_fraction"),
        ({"num_clients": 2, "threshold": 0.0}, ValueError, "threshold"),
        ({"num_clients": 2, "seed": -1}, ValueError, "seed"),
        ({"num_clients": 2, "seed": None}, TypeError, "seed"),
    ],
)
def test_scaffold_split_refuses_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    scaf = ["c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCNCC1"] * 3
    with pytest.raises(error, match=message):
        chem.scaffold_split(scaf, **kwargs)


def test_scaffold_split_refuses_non_strings() -> None:
    with pytest.raises(TypeError, match="SMILES strings"):
        chem.scaffold_split("c1ccccc1", num_clients=1)


def test_loader_lives_in_data_and_chem_reexports_it():
    assert chem.load_chembl2321810 is fdata.load_chembl2321810
    assert "load_chembl2321810" in fdata.__all__
