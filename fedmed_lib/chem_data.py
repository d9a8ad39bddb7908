"""The ChEMBL activity set that ships with RDKit: the data of the drug-discovery chapter.

One job: read and check the files of ``rdkit/Contrib/FreeWilson/data`` (1,017
compounds of one medicinal-chemistry series, each with one activity value on a log
scale), which the ``rdkit`` wheel installs, so no download is needed. ChEMBL data are
licensed CC BY-SA 3.0 (Zdrazil et al., "The ChEMBL Database in 2023", Nucleic Acids
Research 52, D1180, 2024). :mod:`fedmed_lib.chem` turns the compounds into
fingerprints and splits them among the clients. Introduced in :ref:`ch-drug-discovery`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["CHEMBL2321810_FILES", "ActivitySet", "freewilson_data_dir", "load_chembl2321810"]

CHEMBL2321810_FILES = ("CHEMBL2321810.smi", "CHEMBL2321810_act.csv")
"""The two files of the set, in ``rdkit/Contrib/FreeWilson/data``."""


@dataclass(frozen=True)
class ActivitySet:
    """Compounds and one activity value each, as read by :func:`load_chembl2321810`.

    Attributes
    ----------
    smiles
        One SMILES string per compound, in file order.
    ids
        The compound identifiers of the files (strings), in the same order.
    y
        The activity values (float64, log scale: higher is more active).
    source
        The folder the files were read from.
    """

    smiles: list[str]
    ids: list[str]
    y: NDArray[np.float64]
    source: Path


def freewilson_data_dir() -> Path:
    """Return RDKit's ``Contrib/FreeWilson/data`` folder (installed with the ``rdkit`` wheel)."""
    import rdkit

    return Path(rdkit.__file__).resolve().parent / "Contrib" / "FreeWilson" / "data"


def load_chembl2321810(*, data_dir: str | Path | None = None) -> ActivitySet:
    """Read and check the ChEMBL activity set shipped with RDKit's Free-Wilson contribution.

    Introduced in :ref:`ch-drug-discovery`.

    Parameters
    ----------
    data_dir
        Folder holding ``CHEMBL2321810.smi`` and ``CHEMBL2321810_act.csv``; defaults to
        :func:`freewilson_data_dir`.

    Returns
    -------
    ActivitySet
        SMILES, identifiers and activity values, in the order of the SMILES file.

    Raises
    ------
    FileNotFoundError
        If a file is missing (RDKit not installed with its ``Contrib`` folder).
    ValueError
        If a line is malformed, an identifier is repeated or present in one file
        only, a SMILES does not parse, or a value is not a finite number in [0, 14].
    """
    from rdkit import Chem, rdBase

    folder = Path(data_dir) if data_dir is not None else freewilson_data_dir()
    smi_path, act_path = (folder / name for name in CHEMBL2321810_FILES)
    for path in (smi_path, act_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: install the rdkit wheel, which ships it")
    smiles, ids = [], []
    for lineno, line in enumerate(smi_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{smi_path.name} line {lineno}: expected 'SMILES id', got {line!r}")
        smiles.append(fields[0])
        ids.append(fields[1])
    with act_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0] != ["Name", "Act"]:
        raise ValueError(f"{act_path.name}: expected the header 'Name,Act'")
    act: dict[str, float] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise ValueError(f"{act_path.name} line {lineno}: expected 'id,value', got {row!r}")
        if row[0] in act:
            raise ValueError(f"{act_path.name} line {lineno}: compound {row[0]} appears twice")
        try:
            value = float(row[1])
        except ValueError as err:
            raise ValueError(f"{act_path.name} line {lineno}: {row[1]!r} is not a number") from err
        if not (np.isfinite(value) and 0.0 <= value <= 14.0):
            raise ValueError(f"{act_path.name} line {lineno}: activity {value} outside [0, 14]")
        act[row[0]] = value
    if len(set(ids)) != len(ids):
        raise ValueError(f"{smi_path.name}: a compound identifier appears twice")
    only_smi, only_act = sorted(set(ids) - set(act)), sorted(set(act) - set(ids))
    if only_smi or only_act:
        raise ValueError(
            f"the files disagree: {len(only_smi)} ids only in {smi_path.name} "
            f"(e.g. {only_smi[:3]}), {len(only_act)} only in {act_path.name} (e.g. {only_act[:3]})"
        )
    with rdBase.BlockLogs():  # a bad SMILES is reported below, not logged to stderr
        bad = [i for s, i in zip(smiles, ids, strict=True) if Chem.MolFromSmiles(s) is None]
    if bad:
        raise ValueError(f"{smi_path.name}: the SMILES of compound(s) {bad[:3]} do not parse")
    y = np.array([act[i] for i in ids], dtype=np.float64)
    return ActivitySet(smiles=smiles, ids=ids, y=y, source=folder)
