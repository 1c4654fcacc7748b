"""Helpers the tests import by name (``from testsupport import ...``). They live here, not in
``conftest.py``: ``tests/browser`` has a conftest of its own, and ``import conftest`` from a test
module would find whichever of the two was imported first."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def full_mnist_root():
    """The folder with the full MNIST for tests that need it, or None."""
    from lessons_lib.data.mnist_files import FILES, _find

    env = os.environ.get("LESSONS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")  # the development checkout's shared data
    for root in candidates:
        if root.is_dir() and all(_find(root, s) for pair in FILES.values() for s in pair):
            return root
    return None


# -- real faults, in other processes ---------------------------------------------------------
def python(code: str, *args, env=None, timeout=300, **kw):
    """Run ``code`` in a fresh Python process that imports this checkout's lessons_lib."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


_TMPFS = {}


def on_tmpfs(mount: Path, code: str, *args, size_kb: int = 1024, readonly: bool = False, **kw):
    """Run ``code`` (as :func:`python`) in a private mount namespace where ``mount`` is a fresh tmpfs
    of ``size_kb`` KiB, read-only if asked: a real full or read-only file system, which even root
    cannot write. Skips the test where mount namespaces are not permitted."""
    import shlex
    import shutil
    import subprocess
    import sys

    unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]  # the mount stays in the namespace
    if "ok" not in _TMPFS:
        _TMPFS["ok"] = bool(shutil.which("unshare")) and subprocess.run(
            unshare + ["mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True).returncode == 0
    if not _TMPFS["ok"]:
        pytest.skip("mounting a tmpfs in a private mount namespace is not permitted here")
    mount.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if readonly else "")
    script = (f"mount -t tmpfs -o {options} tmpfs {shlex.quote(str(mount))} && exec "
              + " ".join(shlex.quote(a) for a in [sys.executable, "-c", code, *map(str, args)]))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **kw.pop("env", {})}
    return subprocess.run(unshare + [script], env=env, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), **kw)
