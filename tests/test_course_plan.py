"""The course adds up: every week fits its 90-minute lecture and lab, and the labs are counted right.

The syllabus (book/syllabus.md) assigns chapters to weeks; the instructor guide
(book/instructor_guide.md) gives each chapter's lecture and lab minutes. These tests
sum them per week, check that every chapter of the table of contents is taught in
exactly one week and timed exactly once, and that the assessment counts as many lab
assignments as the core (non-optional) weeks have labs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SYLLABUS = (ROOT / "book" / "syllabus.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "book" / "instructor_guide.md").read_text(encoding="utf-8")
SLOT_MINUTES = 90
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9}


def weeks() -> list[tuple[str, bool, list[str], list[int]]]:
    """(title, optional, chapter labels, lab numbers) per week of the syllabus."""
    out = []
    parts = re.split(r"^## (Week .*)$", SYLLABUS, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        chapters_line = re.search(r"\*\*Chapters:\*\*(.*)", body)
        assert chapters_line, f"{title}: no '**Chapters:**' line"
        chapters = re.findall(r"\{ref\}`(ch-[\w-]+)`", chapters_line.group(1))
        labs = [int(n) for n in re.findall(r"\*\*Lab (\d+):\*\*", body)]
        out.append((title, "(optional)" in title, chapters, labs))
    return out


def minutes() -> dict[str, tuple[int, int]]:
    """Chapter label -> (lecture minutes, lab minutes) from the instructor guide's table."""
    rows = re.findall(r"^\| \{ref\}`(ch-[\w-]+)` \| [^|]+ \| (\d+) min \| (\d+) min \|$", GUIDE, re.M)
    table: dict[str, tuple[int, int]] = {}
    for label, lecture, lab in rows:
        assert label not in table, f"{label} is timed twice in the instructor guide"
        table[label] = (int(lecture), int(lab))
    return table


def toc_chapter_labels() -> set[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    labels = set()
    for part in toc["parts"]:
        for ch in part["chapters"]:
            if ch["file"].startswith("notebooks/"):
                text = (ROOT / (ch["file"] + ".ipynb")).read_text(encoding="utf-8")
                m = re.search(r"\((ch-[\w-]+)\)=", text)
                assert m, f"{ch['file']}: no chapter label"
                labels.add(m.group(1))
    return labels


def test_every_week_fits_its_lecture_and_its_lab() -> None:
    table = minutes()
    for title, _, chapters, _ in weeks():
        lecture = sum(table[c][0] for c in chapters)
        lab = sum(table[c][1] for c in chapters)
        assert lecture <= SLOT_MINUTES, f"{title}: the lecture plan needs {lecture} min"
        assert lab <= SLOT_MINUTES, f"{title}: the lab plan needs {lab} min"


def test_every_chapter_is_taught_once_and_timed_once() -> None:
    taught = [c for _, _, chapters, _ in weeks() for c in chapters]
    assert len(taught) == len(set(taught)), f"a chapter is taught in two weeks: {taught}"
    labels = toc_chapter_labels()
    assert set(taught) == labels, f"syllabus vs table of contents: {set(taught) ^ labels}"
    assert set(minutes()) == labels, f"instructor guide vs contents: {set(minutes()) ^ labels}"


def test_labs_are_numbered_by_week_and_counted_by_the_assessment() -> None:
    plan = weeks()
    labs = [n for _, _, _, week_labs in plan for n in week_labs]
    assert labs == list(range(1, len(plan) + 1)), f"one lab per week, numbered in order: {labs}"
    core = sum(len(week_labs) for _, optional, _, week_labs in plan if not optional)
    stated = re.search(r"^\| (\w+) lab assignments", SYLLABUS, re.M)
    assert stated, "the assessment table does not state how many lab assignments count"
    assert NUMBERS[stated.group(1).lower()] == core, (
        f"the assessment counts {stated.group(1)} labs, the core weeks have {core}"
    )
    course = re.search(r"a (\w+)-week course", SYLLABUS)
    assert course and NUMBERS[course.group(1)] == sum(not o for _, o, _, _ in plan)
