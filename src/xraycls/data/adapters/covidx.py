"""COVIDx (COVID-Net) split files (``covidx``): ``train.txt``, ``test.txt`` (``val.txt``).

One image a line: ``<patient id> <file name> <label> <source>``; labels ``normal``,
``pneumonia``, ``COVID-19`` (three-class releases) or ``positive``/``negative`` (later
releases). Images in ``train/``, ``test/`` (``val/``) beside the text files. The line's
source becomes the image's ``source``; its split the meta column ``split``.
"""

from __future__ import annotations

import re
from pathlib import Path

from xraycls.data._listing import Listing
from xraycls.data.adapters._common import image_index
from xraycls.errors import DatasetLayoutError

NAME = "covidx"
_SPLIT_FILE = re.compile(r"^(train|test|val)(?:_covidx\w*)?\.txt$", re.IGNORECASE)
_MAX_LINE = 4096


def _split_files(root: Path) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob("*.txt")):
        m = _SPLIT_FILE.match(path.name)
        if m:
            out.append((m.group(1).lower(), path))
    return out


def detect(root: Path) -> bool:
    for _split, path in _split_files(root):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                first = next((ln for ln in fh if ln.strip()), "")
        except OSError:
            continue
        if len(first.split()) >= 3:
            return True
    return False


def list_files(root: Path) -> Listing:
    out = Listing(NAME, root)
    for split, path in _split_files(root):
        index = image_index([root / split])
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    if len(line) > _MAX_LINE:
                        raise DatasetLayoutError(f"{path}:{lineno}: line longer than {_MAX_LINE}")
                    tokens = line.split()
                    if len(tokens) < 3:
                        raise DatasetLayoutError(
                            f"{path}:{lineno}: expected '<patient id> <file name> <label> "
                            f"<source>', got {line.strip()!r}"
                        )
                    pid = tokens[0]
                    if len(tokens) == 3:
                        name, label, source = tokens[1], tokens[2], None
                    else:  # file names with spaces: the label and source are the last two
                        name, label, source = " ".join(tokens[1:-2]), tokens[-2], tokens[-1]
                    file = index.get(name)
                    if file is None:
                        out.problems.append(
                            (
                                str(root / split / name),
                                f"listed in {path.name}:{lineno} but not found",
                            )
                        )
                        continue
                    out.add(
                        file,
                        label,
                        group=pid,
                        findings=(label,),
                        finding=label,
                        source=source or NAME,
                        split=split,
                    )
        except OSError as exc:
            raise DatasetLayoutError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return out
