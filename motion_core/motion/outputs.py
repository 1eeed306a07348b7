"""Output files: checked before the work that fills them, and written atomically.

`check_writable(path)` raises a one-line MotionError for every output a user can get wrong (a folder, a missing or
read-only folder, too long a name, a read-only file), so commands check all their outputs before a generation or an
import runs. `atomic_output(path)` gives a temporary file beside `path` and moves it over `path` only once it is
complete: a full disk or a crash never leaves the user's previous file truncated, and a reader never sees half a file.
numpy-only (the add-on uses it too).
"""

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from motion_core.errors import MotionError

NAME_MAX = 255  # bytes in one file name on the common file systems (ext4, APFS, NTFS in UTF-16 units)


def _name_max(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return NAME_MAX


def check_writable(path, what="the output"):
    """The output path as a Path, or MotionError saying why `what` cannot be written there (nothing is created)."""
    path = Path(path).expanduser()
    folder = path.parent
    try:
        if not folder.is_dir():
            raise MotionError(f"the folder of {what} does not exist: {folder}; create it or choose another path")
        if len(os.fsencode(path.name)) + 16 > _name_max(folder):  # + room for atomic_output's temporary name
            raise MotionError(f"the file name of {what} is too long ({len(path.name)} characters); choose a "
                              "shorter one")
        if path.is_dir():
            raise MotionError(f"{what} {path} is a folder; give a file name inside it")
        exists = path.exists()
    except OSError as error:  # e.g. a folder path longer than the system allows
        raise MotionError(f"cannot use {what} {str(path)[:80]}: {error.strerror or error}") from None
    if exists and not os.access(path, os.W_OK):
        raise MotionError(f"{what} {path} is read-only; choose another file or make it writable")
    try:  # permissions, read-only file systems and odd mounts answer only to a real attempt
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".motion-mamba-", suffix=".probe")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise MotionError(f"cannot write {what} into {folder}: {error.strerror or error}; choose another folder") \
            from None
    return path


def _file_mode(path):
    if path.exists():
        return path.stat().st_mode & 0o7777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path, what="the output"):
    """Yield a temporary path beside `path` (same suffix, so writers that pick a format by extension still work);
    when the block ends without an error it replaces `path`. An OSError while writing (disk full, I/O error)
    becomes a one-line MotionError; the temporary file is removed and `path` is left as it was."""
    path = Path(path).expanduser()
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:64]}-", suffix=path.suffix.lower())
        os.close(handle)
    except OSError as error:
        raise MotionError(f"cannot write {what} {path}: {error.strerror or error}") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as error:
        hint = "; free some disk space and try again" if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) else ""
        raise MotionError(f"could not write {what} {path}: {error.strerror or error}{hint}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
