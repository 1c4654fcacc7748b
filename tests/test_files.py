"""lessons_lib.files, the one way the library writes a file: real concurrent processes, real full
and read-only file systems (as root too), and nothing left behind."""
import json
import os
import subprocess
import sys
import time

import pytest

from testsupport import ROOT, on_tmpfs, python
from lessons_lib.files import atomic_write, check_writable, locked, write_text


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".write-test-" in p.name)


def test_concurrent_writers_of_one_record_never_leave_invalid_json(tmp_path):
    """Three processes rewrite the same record 200 times each while this one reads it: every read
    is one writer's complete record, and no temporary file is left."""
    path = tmp_path / "record.json"
    write_text(path, json.dumps({"writer": "none", "i": 0}))
    code = ("import json, sys; from lessons_lib.files import write_text\n"
            "for i in range(200): write_text(sys.argv[1], json.dumps({'writer': sys.argv[2], 'i': i, "
            "'pad': [sys.argv[2]] * 5000}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path), w], env=env) for w in "abc"]
    reads = 0
    while any(w.poll() is None for w in writers):
        record = json.loads(path.read_text())  # raises on a torn or half-written file
        assert record["writer"] in ("none", "a", "b", "c") and len(record.get("pad", [0] * 5000)) == 5000
        reads += 1
    assert [w.wait() for w in writers] == [0, 0, 0]
    assert json.loads(path.read_text())["i"] == 199
    assert reads > 10 and leftovers(tmp_path) == []


def test_locked_read_modify_write_loses_no_update(tmp_path):
    path = tmp_path / "counter.json"
    code = ("import json, sys, pathlib; from lessons_lib.files import locked, write_text\n"
            "p = pathlib.Path(sys.argv[1])\n"
            "for _ in range(50):\n"
            "    with locked(p):\n"
            "        n = json.loads(p.read_text())['n'] if p.is_file() else 0\n"
            "        write_text(p, json.dumps({'n': n + 1}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env) for _ in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert json.loads(path.read_text()) == {"n": 150}


def test_locked_without_waiting_fails_at_once_and_frees_with_the_process(tmp_path):
    path = tmp_path / "out.json"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from lessons_lib.files import locked\n"
                               "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)", str(path)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(BlockingIOError):
            with locked(path, wait=False):
                pass
        assert time.monotonic() - start < 1
    finally:
        holder.kill()  # a killed holder (kill -9) releases the lock
        holder.wait()
    with locked(path, wait=False):
        pass


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "record.json"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and leftovers(tmp_path) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=f"could not write {blocker / 'x.json'} .*previous version, if any, is intact"):
        write_text(blocker / "x.json", "{}")


def test_a_file_larger_than_the_disk_allows_fails_clearly(tmp_path):
    """RLIMIT_FSIZE makes a write fail as a full disk does, for root too (EFBIG instead of ENOSPC)."""
    code = ("import resource, signal, sys; from lessons_lib.files import write_text\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "write_text(sys.argv[1], 'old')\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
            "write_text(sys.argv[1], 'x' * 5000)")
    out = python(code, tmp_path / "record.json")
    assert out.returncode == 1 and f"could not write {tmp_path / 'record.json'} (File too large)" in out.stderr
    assert (tmp_path / "record.json").read_text() == "old" and leftovers(tmp_path) == []


def test_a_full_file_system_fails_clearly_and_keeps_the_old_file(tmp_path):
    """A real full disk: a 64 KiB tmpfs that holds the old record but not a second copy."""
    mount = tmp_path / "disk"
    code = ("import os, sys; from lessons_lib.files import write_text\n"
            "path = os.path.join(sys.argv[1], 'record.json')\n"
            "write_text(path, 'a' * 40000)\n"
            "try:\n    write_text(path, 'b' * 40000)\n"
            "except OSError as exc:\n    print(exc)\n"
            "print(open(path).read() == 'a' * 40000, sorted(os.listdir(sys.argv[1])))")
    out = on_tmpfs(mount, code, mount, size_kb=64)
    assert out.returncode == 0, out.stderr
    assert "could not write" in out.stdout and "No space left on device" in out.stdout
    assert out.stdout.splitlines()[-1] == "True ['record.json']"


def test_check_writable_refuses_what_even_root_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=f"output folder {blocker / 'out'} is not writable"):
        check_writable(blocker / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    assert check_writable(tmp_path / "new" / "out") == tmp_path / "new" / "out" and not any((tmp_path / "new" / "out").iterdir())


@pytest.mark.parametrize("readonly", [True, False], ids=["read-only", "full"])
def test_check_writable_on_a_read_only_or_full_file_system(tmp_path, readonly):
    mount = tmp_path / "disk"
    code = ("import os, sys; from lessons_lib.files import check_writable\n"
            "if sys.argv[2] == 'full':\n    open(os.path.join(sys.argv[1], 'filler'), 'wb').write(bytes(64 * 1024))\n"
            "try:\n    check_writable(os.path.join(sys.argv[1], 'out'))\n"
            "except ValueError as exc:\n    print(exc)\n"
            "print(sorted(os.listdir(sys.argv[1])), sorted(os.listdir(os.path.join(sys.argv[1], 'out')))"
            " if os.path.isdir(os.path.join(sys.argv[1], 'out')) else [])")
    out = on_tmpfs(mount, code, mount, "read-only" if readonly else "full", size_kb=64, readonly=readonly)
    assert out.returncode == 0, out.stderr
    reason = "Read-only file system" if readonly else "No space left on device"
    assert f"output folder {mount / 'out'} is not writable ({reason})" in out.stdout
    assert out.stdout.splitlines()[-1] == ("[] []" if readonly else "['filler', 'out'] []")  # no probe file left
