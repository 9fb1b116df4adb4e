"""Files and folders only their owner can read, private from the moment they exist.

The workspace holds a signing key, possibly a database password (``config.json``), the
database and uploaded evidence. Each is created with its final mode (folders 0700, files
0600) instead of being tightened afterwards, so no other user can open it in between; the
mode is then set exactly, whatever the umask took away.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` as 0700 (missing parents as usual); an existing folder keeps its mode."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return  # made by someone else meanwhile: theirs to keep
    path.chmod(DIR_MODE)  # the umask only removes bits: this never widens a window


def create_private(path: Path) -> bool:
    """Create ``path`` empty as 0600 if it does not exist; True when created here."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically as 0600 (a temporary file in the same folder, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
