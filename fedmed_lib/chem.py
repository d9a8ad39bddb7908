"""Chemistry for federated drug discovery: data, fingerprints, similarity, scaffold splits.

One job: turn molecules into the numbers a federation of pharmaceutical companies
trains on, and split them the way companies' chemistry is split in practice.

* :func:`fedmed_lib.chem_data.load_chembl2321810` (re-exported here) reads the ChEMBL
  activity set that ships with RDKit (``rdkit/Contrib/FreeWilson/data``: 1,017
  compounds of one medicinal-chemistry series with one activity value each, on a log
  scale), checks it and needs no download. ChEMBL data are licensed CC BY-SA 3.0
  (Zdrazil et al., "The ChEMBL Database in 2023", Nucleic Acids Research 52, D1180, 2024).
* :func:`morgan_fingerprints` computes Morgan (ECFP-like) bit vectors with RDKit
  (Rogers and Hahn, "Extended-Connectivity Fingerprints", J. Chem. Inf. Model. 50,
  742, 2010); :func:`bit_environments` says which circular substructure set a bit.
* :func:`tanimoto` and :func:`nearest_neighbour_similarity` compare bit vectors
  (Tanimoto similarity, RDKit's convention that two empty vectors have similarity 0).
* :func:`murcko_scaffolds`, :func:`butina_clusters` and :func:`scaffold_split` give
  each client (company) its own chemical series: compounds are grouped by
  Bemis-Murcko scaffold (Bemis and Murcko, J. Med. Chem. 39, 2887, 1996), similar
  scaffolds are clustered with Butina's algorithm (J. Chem. Inf. Comput. Sci. 39,
  747, 1999), and whole clusters go to one client or to a held-out set of scaffolds
  that no client trains on.

Introduced in :ref:`ch-drug-discovery`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import check_int, check_number, check_real_array, check_seed
from fedmed_lib.chem_data import (
    CHEMBL2321810_FILES,
    ActivitySet,
    freewilson_data_dir,
    load_chembl2321810,
)

__all__ = [
    "ActivitySet",
    "bit_environments",
    "butina_clusters",
    "CHEMBL2321810_FILES",
    "freewilson_data_dir",
    "load_chembl2321810",
    "morgan_fingerprints",
    "murcko_scaffolds",
    "nearest_neighbour_similarity",
    "scaffold_split",
    "tanimoto",
]

Indices = list[NDArray[np.int64]]



def _mols(smiles: Sequence[str]) -> list:
    from rdkit import Chem, rdBase

    if isinstance(smiles, str):
        raise TypeError("smiles must be a sequence of SMILES strings, not one string")
    mols = []
    for i, s in enumerate(smiles):
        with rdBase.BlockLogs():  # reported by the ValueError below instead
            mol = Chem.MolFromSmiles(s) if isinstance(s, str) else None
        if mol is None:
            raise ValueError(f"compound {i}: {s!r} is not a valid SMILES string")
        mols.append(mol)
    return mols


def morgan_fingerprints(
    smiles: Sequence[str], *, radius: int = 2, n_bits: int = 2048
) -> NDArray[np.float64]:
    """Morgan (ECFP-like) bit vectors of the compounds, one row each, as float64 0/1.

    Radius 2 corresponds to ECFP4 (diameter 4). Introduced in :ref:`ch-drug-discovery`.

    Raises
    ------
    ValueError
        If a SMILES does not parse (naming the compound) or ``radius``/``n_bits`` is
        out of range.
    """
    from rdkit.Chem import rdFingerprintGenerator

    radius = check_int(radius, name="radius", minimum=0)
    n_bits = check_int(n_bits, name="n_bits", minimum=1)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    rows = [gen.GetFingerprintAsNumPy(m) for m in _mols(smiles)]
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_bits)


def bit_environments(
    smiles: str, bit: int, *, radius: int = 2, n_bits: int = 2048
) -> list[tuple[int, int, str]]:
    """Return the circular substructures of one compound that set bit ``bit``.

    Returns ``(center atom, radius, SMILES of the environment)`` for each environment
    that RDKit hashes to ``bit`` (empty if the bit is off). Radius-0 environments are
    single atoms, written as the atom's SMILES. Introduced in :ref:`ch-drug-discovery`.
    """
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    bit = check_int(bit, name="bit", minimum=0)
    n_bits = check_int(n_bits, name="n_bits", minimum=1)
    if bit >= n_bits:
        raise ValueError(f"bit must be below n_bits = {n_bits}, got {bit}")
    mol = _mols([smiles])[0]
    gen = rdFingerprintGenerator.GetMorganGenerator(
        radius=check_int(radius, name="radius", minimum=0), fpSize=n_bits)
    ao = rdFingerprintGenerator.AdditionalOutput()
    ao.AllocateBitInfoMap()
    gen.GetFingerprint(mol, additionalOutput=ao)
    out = []
    for atom, r in sorted(ao.GetBitInfoMap().get(bit, ())):
        if r == 0:
            frag = Chem.MolFragmentToSmiles(mol, atomsToUse=[atom])
        else:
            bonds = Chem.FindAtomEnvironmentOfRadiusN(mol, r, atom)
            frag = Chem.MolToSmiles(Chem.PathToSubmol(mol, bonds))
        out.append((int(atom), int(r), frag))
    return out


def _bits(A: object, name: str) -> NDArray[np.float64]:
    a = check_real_array(A, name=name, ndim=2)
    if not np.isin(a, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0/1 bits")
    return a


def tanimoto(A: np.ndarray, B: np.ndarray) -> NDArray[np.float64]:
    """Tanimoto similarity of every row of ``A`` with every row of ``B``.

    ``T(a, b) = |a AND b| / |a OR b| = c / (|a| + |b| - c)`` with ``c = a . b``;
    two empty vectors have similarity 0 (RDKit's convention).
    Introduced in :ref:`ch-drug-discovery`.

    Raises
    ------
    ValueError
        If ``A`` or ``B`` is not a 2-D array of 0/1 bits or their widths differ.
    """
    a, b = _bits(A, "A"), _bits(B, "B")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"A has {a.shape[1]} bits per row, B has {b.shape[1]}")
    both = a @ b.T
    union = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :] - both
    return np.divide(both, union, out=np.zeros_like(both), where=union > 0)


def nearest_neighbour_similarity(A: np.ndarray, B: np.ndarray) -> NDArray[np.float64]:
    """For each row of ``A``, its largest Tanimoto similarity to any row of ``B``.

    Introduced in :ref:`ch-drug-discovery`.
    """
    sim = tanimoto(A, B)
    if sim.shape[1] == 0:
        raise ValueError("B is empty: there is no nearest neighbour")
    return np.asarray(sim.max(axis=1))


def murcko_scaffolds(smiles: Sequence[str]) -> list[str]:
    """Return the Bemis-Murcko scaffold (ring systems and linkers) of each compound as SMILES.

    An acyclic compound has the empty scaffold ``""``. Introduced in :ref:`ch-drug-discovery`.
    """
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return [MurckoScaffold.MurckoScaffoldSmiles(mol=m) for m in _mols(smiles)]


def butina_clusters(similarity: np.ndarray, *, threshold: float) -> list[list[int]]:
    """Butina's leader clustering on a symmetric similarity matrix.

    Points with at least one other point at similarity ``>= threshold`` are
    neighbours. The point with the most neighbours (ties: the larger index, as in
    ``rdkit.ML.Cluster.Butina.ClusterData``) becomes a centroid and takes all its
    unclustered neighbours; repeat. Each cluster lists its centroid first.
    Introduced in :ref:`ch-drug-discovery`.
    """
    sim = check_real_array(similarity, name="similarity", ndim=2)
    if sim.shape[0] != sim.shape[1] or not np.allclose(sim, sim.T):
        raise ValueError(f"similarity must be a symmetric square matrix, got shape {sim.shape}")
    threshold = check_number(threshold, name="threshold")
    n = sim.shape[0]
    close = sim >= threshold
    np.fill_diagonal(close, False)
    neighbours = [np.flatnonzero(close[i]).tolist() for i in range(n)]
    order = sorted(range(n), key=lambda i: (len(neighbours[i]), i), reverse=True)
    clustered = np.zeros(n, dtype=bool)
    clusters = []
    for i in order:
        if clustered[i]:
            continue
        members = [i] + [j for j in neighbours[i] if not clustered[j]]
        clustered[members] = True
        clusters.append(members)
    return clusters


def scaffold_split(
    scaffolds: Sequence[str],
    *,
    num_clients: int,
    holdout_fraction: float = 0.15,
    threshold: float = 0.7,
    seed: int = 0,
) -> tuple[Indices, NDArray[np.int64]]:
    """Give each client its own chemical series; keep some series away from every client.

    Compounds with the same Bemis-Murcko scaffold stay together; scaffolds whose
    Morgan fingerprints (radius 2, 2048 bits) have Tanimoto similarity at least
    ``threshold`` are clustered (:func:`butina_clusters`). Clusters in a seeded random
    order go to the held-out set while they fit in ``holdout_fraction`` of the
    compounds; the others, largest first, each go to the client with the fewest
    compounds so far. Introduced in :ref:`ch-drug-discovery`.

    Returns
    -------
    clients, holdout
        One sorted index array per client, and the sorted indices of the held-out
        compounds (scaffolds no client has).

    Raises
    ------
    ValueError
        If ``num_clients`` is below 1 or above the number of clusters,
        ``holdout_fraction`` is outside [0, 1), or ``threshold`` outside (0, 1].
    """
    num_clients = check_int(num_clients, name="num_clients", minimum=1)
    frac = check_number(holdout_fraction, name="holdout_fraction")
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {frac}")
    threshold = check_number(threshold, name="threshold")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    rng = np.random.default_rng(check_seed(seed))
    if isinstance(scaffolds, str) or not all(isinstance(s, str) for s in scaffolds):
        raise TypeError("scaffolds must be a sequence of SMILES strings, one per compound")
    unique = sorted(set(scaffolds))
    index = {s: i for i, s in enumerate(unique)}
    of = np.array([index[s] for s in scaffolds], dtype=np.int64)
    fps = morgan_fingerprints(unique)
    clusters = butina_clusters(tanimoto(fps, fps), threshold=threshold)
    if num_clients > len(clusters):
        raise ValueError(f"{len(clusters)} scaffold clusters cannot feed {num_clients} clients")
    members = [np.flatnonzero(np.isin(of, c)) for c in clusters]
    sizes = np.array([len(m) for m in members])
    held: list[int] = []
    budget = frac * len(scaffolds)
    for c in rng.permutation(len(clusters)):
        if sizes[held].sum() + sizes[c] <= budget and len(clusters) - len(held) > num_clients:
            held.append(int(c))
    load = np.zeros(num_clients, dtype=np.int64)
    parts: list[list[int]] = [[] for _ in range(num_clients)]
    for c in sorted(set(range(len(clusters))) - set(held), key=lambda c: (-sizes[c], c)):
        k = int(np.argmin(load))
        parts[k].extend(members[c].tolist())
        load[k] += sizes[c]
    holdout = np.sort(np.concatenate([members[c] for c in held] + [np.zeros(0, np.int64)]))
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts], holdout.astype(np.int64)
