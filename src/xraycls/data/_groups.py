"""Patient groups: from a manifest at or above the dataset root, or from Kermany file names."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from xraycls.data._manifest import manifests_above

# Kermany et al. (Guangzhou) names: person123_virus_456 / person123_bacteria_456 (pneumonia),
# IM-0243-0001 / NORMAL2-IM-0393-0001 / IM-0505-0001-0002 (normal). The prefix identifies the
# patient.
_KERMANY = (
    re.compile(r"^(person\d+)_(?:virus|bacteria)_\d+$", re.IGNORECASE),
    re.compile(r"^((?:NORMAL2-)?IM-\d+)(?:-\d+)+$", re.IGNORECASE),
)


def kermany_patient(path: str) -> str | None:
    """The Kermany patient id encoded in a file name, or ``None`` for other names."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for rx in _KERMANY:
        m = rx.match(stem)
        if m:
            return f"kermany:{m.group(1)}"
    return None


def find_manifest(root: Path, levels: int = 2) -> tuple[Path, dict[str, str]] | None:
    """The nearest ``MANIFEST.csv`` with a patient column at ``root`` or up to ``levels`` above.

    Returns the manifest path and a mapping from absolute, normalised file path to patient id.
    """
    for manifest in manifests_above(root, levels):
        if manifest.groups:
            return manifest.path, manifest.groups
    return None


def assign_groups(
    files: Sequence[str], known: dict[str, str], root: Path
) -> tuple[tuple[str, ...] | None, str | None]:
    """Patient group per file and a sentence saying where the groups came from.

    Priority: groups given by the layout (a CSV ``group`` column), then a ``MANIFEST.csv`` at or
    above ``root``, then Kermany file names. A file no source covers forms its own group (its
    path), so it still splits safely. Returns ``(None, None)`` when no source covers any file.
    """
    sources: list[str] = []
    groups: dict[str, str] = {}
    if known:
        hits = {f: known[f] for f in files if f in known}
        if hits:
            groups.update(hits)
            sources.append(f"manifest group column ({len(hits)} files)")
    missing = [f for f in files if f not in groups]
    if missing:
        found = find_manifest(root)
        if found is not None:
            manifest, mapping = found
            hits = {f: mapping[f] for f in missing if f in mapping}
            if hits:
                groups.update(hits)
                sources.append(f"{manifest} ({len(hits)} files)")
    missing = [f for f in files if f not in groups]
    derived = 0
    for f in missing:
        pid = kermany_patient(f)
        if pid is not None:
            groups[f] = pid
            derived += 1
    if derived:
        sources.append(f"Kermany file names ({derived} files)")
    if not groups:
        return None, None
    rest = len(files) - len(groups)
    if rest:
        sources.append(f"no patient id, one group per file ({rest} files)")
    return tuple(groups.get(f, f) for f in files), "; ".join(sources)
