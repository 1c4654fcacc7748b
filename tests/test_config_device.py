import pytest
import torch

import lessons_lib
from lessons_lib import config
from lessons_lib.device import environment, pick_device, seed_everything


def test_default_profile_is_standard(monkeypatch):
    monkeypatch.delenv("LESSONS_PROFILE", raising=False)
    assert config.current_profile() == "standard"


@pytest.mark.parametrize("name", ["smoke", "standard", "full"])
def test_profile_from_environment(monkeypatch, name):
    monkeypatch.setenv("LESSONS_PROFILE", name)
    assert config.current_profile() == name


def test_unknown_profile_lists_valid_names(monkeypatch):
    monkeypatch.setenv("LESSONS_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke, standard, full.*'fast'"):
        config.current_profile()


def test_settings_picks_active_profile(monkeypatch):
    monkeypatch.setenv("LESSONS_PROFILE", "full")
    S = config.Profiles(smoke=dict(epochs=1), standard=dict(epochs=4), full=dict(epochs=75))
    P = S()
    assert (P.profile, P.epochs) == ("full", 75)
    assert S("smoke").epochs == 1
    assert "epochs" in repr(S) and "full *" in repr(S) and "<td>75</td>" in S._repr_html_()


def test_settings_rejects_missing_profile_and_mismatched_keys():
    with pytest.raises(ValueError, match="missing \\['full'\\]"):
        config.Profiles(smoke=dict(epochs=1), standard=dict(epochs=2))
    with pytest.raises(ValueError, match="same keys"):
        config.Profiles(smoke=dict(epochs=1), standard=dict(epochs=2), full=dict(epoch=3))


def test_pick_device_says_which(capsys):
    device = pick_device()
    assert device.type in ("cuda", "mps", "cpu")
    assert "Training on" in capsys.readouterr().out


def test_pick_device_rejects_unavailable_cuda():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda", verbose=False)


def test_seed_everything_repeats_random_draws():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        seed_everything(bad)


def test_environment_and_report(capsys):
    env = environment("cpu")
    assert env["torch"] == torch.__version__ and env["device"].startswith("cpu")
    from lessons_lib.page import report

    report()
    out = capsys.readouterr().out
    for key in ("profile:", "device:", "versions:", "wall time:"):
        assert key in out


def test_commit_is_dirty_for_code_not_for_what_executing_the_book_writes(tmp_path):
    import subprocess

    from lessons_lib.device import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "book").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "pkg").mkdir()
    files = {"pkg/code.py": "x = 1\n", "book/a.ipynb": "{}", "results/notebook_timings.json": "{}",
             "results/r.json": "{}"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    clean = git_commit(tmp_path / "pkg")
    assert clean and not clean.endswith("-dirty")
    (tmp_path / "book" / "a.ipynb").write_text('{"executed": 1}')  # an executed notebook and its timing
    (tmp_path / "results" / "notebook_timings.json").write_text('{"t": 1}')
    assert git_commit(tmp_path / "pkg") == clean
    (tmp_path / "results" / "r.json").write_text('{"changed": 1}')  # anything else is a change
    assert git_commit(tmp_path / "pkg") == clean + "-dirty"
    git("checkout", "results/r.json")
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "pkg") == clean + "-dirty"
