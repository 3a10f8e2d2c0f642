"""Venvs made in a second from this one: its packages linked in, less the distributions a test must not see.

The new venv has no system site-packages; its site-packages links to every entry of this
interpreter's but the files of the distributions left out (it descends into real folders only
where a namespace such as ``airflow/providers`` is shared). ``.pth`` files are linked too, so its
interpreter sets up ``sys.path`` as this one does. A distribution left out is truly absent there:
no module, no metadata, no entry point, nothing for Airflow's provider discovery to find.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from collections.abc import Collection
from importlib.metadata import distributions
from pathlib import Path

SITE_PACKAGES = Path(sysconfig.get_path("purelib"))


def linked_venv(target: Path, *, leave_out: Collection[str]) -> Path:
    """Make a venv at ``target`` without the distributions named in ``leave_out``; return its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
    (site,) = (target / "lib").glob("python3*/site-packages")
    hidden = _paths_of({_canonical(name) for name in leave_out})
    _link(SITE_PACKAGES, site, hidden)
    return site


def installed_names(fragment: str) -> set[str]:
    """The installed distributions whose name holds ``fragment``."""
    return {dist.metadata["Name"] for dist in distributions() if fragment in _canonical(dist.metadata["Name"])}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _paths_of(hidden: set[str]) -> set[str]:
    """The shortest site-packages paths that hold files of the ``hidden`` distributions and of no other."""
    shared: set[str] = set()  # every folder holding a file of a distribution that stays
    files: list[tuple[str, ...]] = []
    for dist in distributions():
        mine = _canonical(dist.metadata["Name"]) in hidden
        for file in dist.files or ():
            parts = file.parts
            if parts[0] == "..":  # scripts in bin/: the venv has its own
                continue
            if mine:
                files.append(parts)
            else:
                shared.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    paths: set[str] = set()
    for parts in files:
        prefixes = ("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        paths.add(next(prefix for prefix in prefixes if prefix not in shared))
    return paths


def _link(source: Path, target: Path, hidden: set[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        relative = entry.relative_to(SITE_PACKAGES).as_posix()
        if relative in hidden:
            continue
        if entry.is_dir() and any(path.startswith(relative + "/") for path in hidden):
            _link(entry, target / entry.name, hidden)
        else:
            (target / entry.name).symlink_to(entry)
