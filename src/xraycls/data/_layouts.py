"""Dataset layouts: one small detect + list function per layout people really have.

A lister only walks the tree and names files and raw labels; it decodes nothing. Verification,
class selection and groups are done by :func:`xraycls.data.load_dataset` for every layout alike.

Layouts, tried in this order by ``layout="auto"``:

* ``csv``: a CSV manifest with ``file`` and ``label`` columns (optional ``group`` or
  ``patient_id``, optional ``origin``); paths relative to the CSV's folder.
* ``kaggle-v2``: the later COVID-19 Radiography Dataset, ``<class>/images/*.png`` with
  ``<class>/masks/`` beside (masks are not loaded) and ``*.metadata.xlsx`` files (ignored).
* ``kaggle-v1``: the first release, ``COVID/`` or ``COVID-19/``, ``NORMAL/``,
  ``Viral Pneumonia/`` with the images directly inside.
* ``folders``: any folder-per-class tree; images anywhere below a class folder.

The public datasets' own formats (``nih-cxr14``, ``rsna-pneumonia``, ``covidx``, ``chexpert``,
``padchest``, ``ieee8023``, ``vindr-cxr``, ``iu-xray``) are adapters in
:mod:`xraycls.data.adapters`, registered here and tried first: their label files name them.

When the given folder holds no images and a single sub-folder (``COVID-19 Radiography
Database/`` beside a ``MANIFEST.csv``, say), the listers look inside it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from pathlib import Path

from xraycls._outputs import is_output_dir
from xraycls.data._classes import CANONICAL_ORDER, canonical_class
from xraycls.data._listing import Listing
from xraycls.data._manifest import (
    RESERVED,
    UncelledReader,
    cell,
    group_column,
    header_columns,
    meta_cells,
)
from xraycls.data.adapters import ADAPTERS
from xraycls.errors import DatasetLayoutError
from xraycls.io import IMAGE_EXTENSIONS

LAYOUTS: tuple[str, ...] = ("csv", "kaggle-v2", "kaggle-v1", "folders", *ADAPTERS)

_IGNORED_NAMES = {"thumbs.db", "desktop.ini"}


def natural_key(text: str) -> list[object]:
    """Sort key putting ``COVID (2).png`` before ``COVID (10).png``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _visible(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith(".") and entry.name.lower() not in _IGNORED_NAMES


def _is_dir(entry: os.DirEntry[str]) -> bool:
    # is_dir()/is_file() follow symlinks; a symlink loop (or a link into an unreadable place)
    # raises OSError there. Such an entry is neither: the listers report it, never crash on it.
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _broken(entry: os.DirEntry[str]) -> str | None:
    """Why a directory entry cannot be used (symlink loop, dangling link...), else ``None``."""
    try:
        os.stat(entry.path)
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc} (a symlink loop or a dangling link?)"
    return None


def _subdirs(root: Path, ignored: list[str] | None = None) -> list[Path]:
    """Visible sub-folders of ``root``; xraycls output folders go to ``ignored``."""
    dirs = []
    with os.scandir(root) as it:
        for e in it:
            if not (_visible(e) and _is_dir(e)):
                continue
            if is_output_dir(e.path):
                if ignored is not None:
                    ignored.append(e.path + os.sep)
                continue
            dirs.append(Path(e.path))
    return sorted(dirs, key=lambda p: natural_key(p.name))


def _direct_images(folder: Path, problems: list[tuple[str, str]] | None = None) -> list[str]:
    found = []
    with os.scandir(folder) as it:
        for e in it:
            if not (_visible(e) and is_image_name(e.name)):
                continue
            if _is_file(e):
                found.append(e.path)
            elif problems is not None and (reason := _broken(e)) is not None:
                problems.append((e.path, reason))
    return found


def _walk(folder: Path, ignored: list[str], skip_dirs: tuple[str, ...] = ()) -> list[str]:
    """All image files below ``folder``; other files (and xraycls output folders) go to
    ``ignored``."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if is_output_dir(dirpath, filenames):
            # A run or report folder written inside the dataset: its PNGs are not data.
            ignored.append(dirpath + os.sep)
            dirnames[:] = []
            continue
        keep = []
        for d in dirnames:
            if d.startswith("."):
                continue
            if d.lower() in skip_dirs:
                ignored.append(os.path.join(dirpath, d) + os.sep)
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith(".") or name.lower() in _IGNORED_NAMES:
                continue
            path = os.path.join(dirpath, name)
            (found if is_image_name(name) else ignored).append(path)
    return sorted(found, key=natural_key)


def descend(root: Path) -> Path:
    """Step into a lone sub-folder when ``root`` is only a wrapper around the dataset."""
    for _ in range(3):
        if not root.is_dir() or _direct_images(root):
            return root
        dirs = _subdirs(root)
        if len(dirs) != 1 or _direct_images(dirs[0]) or not _subdirs(dirs[0]):
            return root
        root = dirs[0]
    return root


# ---------------------------------------------------------------- csv


def _find_csv(root: Path) -> Path | None:
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.glob("*.csv") if _csv_columns(p) >= {"file", "label"})
    if len(candidates) != 1:
        return None
    # A manifest beside several class folders (cxr3-fullsize/MANIFEST.csv) only adds groups; the
    # folders are the data. A manifest beside one image folder (images/) is the data.
    return candidates[0] if _class_dirs_with_images(root) < 2 else None


def _csv_columns(path: Path) -> set[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return set()
    return {h.strip().lower() for h in header}


def detect_csv(root: Path) -> bool:
    return _find_csv(root) is not None


def list_csv(root: Path) -> Listing:
    path = _find_csv(root)
    if path is None:
        raise DatasetLayoutError(f"{root}: not a CSV manifest with 'file' and 'label' columns")
    out = Listing("csv", path.parent)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            # undo the formula escaping of manifests xraycls wrote (Dataset.to_csv)
            reader = UncelledReader(fh)
            cols = header_columns(reader.fieldnames)
            if not {"file", "label"} <= set(cols):
                raise DatasetLayoutError(
                    f"{path}: a CSV manifest needs the columns 'file' and 'label' "
                    f"(found {sorted(cols)})"
                )
            for lineno, row in enumerate(reader, start=2):
                _add_csv_row(out, row, cols, f"{path}:{lineno}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetLayoutError(f"{path}: cannot read the CSV manifest: {exc}") from None
    return out


# Every column but these (source, view, sex, ...) is per-image metadata.
_CSV_NOT_META = RESERVED | {"file"}


def _add_csv_row(out: Listing, row: dict[str, str], cols: dict[str, str], where: str) -> None:
    """One row of the data's CSV into ``out`` (a row without file or label is a problem)."""
    rel, label = cell(row, cols["file"]), cell(row, cols["label"])
    if not rel or not label:
        out.problems.append((where, "row without a file or a label"))
        return
    full = os.path.normpath(os.path.join(out.root, rel))
    out.files.append(full)
    out.labels.append(label)
    if group := cell(row, group_column(cols)):
        out.groups[full] = group
    if origin := cell(row, cols.get("origin")):
        out.origins[full] = os.path.normpath(os.path.join(out.root, origin))
    for key, value in meta_cells(row, _CSV_NOT_META):
        out.meta.setdefault(key, {})[full] = value


# ---------------------------------------------------------------- kaggle v2


def detect_kaggle_v2(root: Path) -> bool:
    dirs = _subdirs(root) if root.is_dir() else []
    with_images = [d for d in dirs if (d / "images").is_dir()]
    return bool(with_images) and any(
        canonical_class(d.name) in (*CANONICAL_ORDER, "Lung_Opacity") for d in with_images
    )


def list_kaggle_v2(root: Path) -> Listing:
    out = Listing("kaggle-v2", root)
    for entry in os.scandir(root):
        if _visible(entry) and _is_file(entry):
            out.ignored.append(entry.path)  # README.md.txt, *.metadata.xlsx
    for d in _subdirs(root, out.ignored):
        label = d.name
        src = d / "images" if (d / "images").is_dir() else d
        for e in os.scandir(d):
            if _visible(e) and e.path != str(src):
                out.ignored.append(e.path + (os.sep if _is_dir(e) else ""))
        files = _walk(src, out.ignored, skip_dirs=("masks",))
        if not files:
            out.empty_classes[label] = str(src)
        out.files.extend(files)
        out.labels.extend([label] * len(files))
    return out


# ---------------------------------------------------------------- kaggle v1


def detect_kaggle_v1(root: Path) -> bool:
    dirs = _subdirs(root) if root.is_dir() else []
    known = [d for d in dirs if canonical_class(d.name) in CANONICAL_ORDER]
    return len(known) >= 2 and len(known) == len(dirs)


def list_kaggle_v1(root: Path) -> Listing:
    out = _list_class_folders(root, recursive=False)
    out.layout = "kaggle-v1"
    return out


# ---------------------------------------------------------------- folder per class


def _class_dirs_with_images(root: Path) -> int:
    count = 0
    for d in _subdirs(root):
        for _dirpath, _dirs, files in os.walk(d):
            if any(is_image_name(f) for f in files):
                count += 1
                break
    return count


def detect_folders(root: Path) -> bool:
    return root.is_dir() and bool(_subdirs(root))


def list_folders(root: Path) -> Listing:
    return _list_class_folders(root, recursive=True)


def _list_class_folders(root: Path, *, recursive: bool) -> Listing:
    out = Listing("folders", root)
    with os.scandir(root) as it:
        for e in it:
            if _visible(e) and _is_file(e):
                out.ignored.append(e.path)
    for d in _subdirs(root, out.ignored):
        if recursive:
            files = _walk(d, out.ignored)
        else:
            files = sorted(_direct_images(d, out.problems), key=natural_key)
            reported = {p for p, _ in out.problems}
            for e in os.scandir(d):
                if (
                    _visible(e)
                    and e.path not in reported
                    and not (_is_file(e) and is_image_name(e.name))
                ):
                    out.ignored.append(e.path + (os.sep if _is_dir(e) else ""))
        if not files:
            out.empty_classes[d.name] = str(d)
        out.files.extend(files)
        out.labels.extend([d.name] * len(files))
    return out


_DETECTORS: dict[str, tuple[Callable[[Path], bool], Callable[[Path], Listing]]] = {
    "csv": (detect_csv, list_csv),
    "kaggle-v2": (detect_kaggle_v2, list_kaggle_v2),
    "kaggle-v1": (detect_kaggle_v1, list_kaggle_v1),
    "folders": (detect_folders, list_folders),
    **ADAPTERS,
}


def list_files(path: Path, layout: str = "auto") -> Listing:
    """Detect the layout of ``path`` (or use ``layout``) and list its files and raw labels."""
    if not path.exists():
        raise DatasetLayoutError(f"{path}: no such file or folder")
    if layout != "auto" and layout not in _DETECTORS:
        raise DatasetLayoutError(
            f"unknown layout {layout!r}; expected 'auto' or one of {', '.join(LAYOUTS)}"
        )
    inner = descend(path)
    # The named Kaggle layouts win, also one folder down; then a manifest where the user
    # pointed (a CSV beside one image folder is the data, a MANIFEST.csv beside the Kaggle
    # folder only adds groups); then a generic folder tree.
    # The public-dataset adapters first: their label files are unambiguous.
    order: list[tuple[str, Path]] = [(name, path) for name in ADAPTERS]
    if inner != path:
        order += [(name, inner) for name in ADAPTERS]
    order += [("kaggle-v2", inner), ("kaggle-v1", inner), ("csv", path)]
    if inner != path:
        order.append(("csv", inner))
    order.append(("folders", inner))
    for name, root in order:
        if layout not in ("auto", name):
            continue
        detect, lister = _DETECTORS[name]
        if detect(root):
            return lister(root)
    if layout != "auto":
        raise DatasetLayoutError(f"{path}: does not look like the {layout!r} layout")
    raise DatasetLayoutError(
        f"{path}: not a dataset: expected one sub-folder of images per class (like the Kaggle "
        "COVID-19 Radiography Database: COVID/, NORMAL/, Viral Pneumonia/) or a CSV manifest "
        "with 'file' and 'label' columns"
    )
