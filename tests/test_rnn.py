import json
import pytest
import torch

from lessons_lib import reproduce
from lessons_lib.experiments import rnn as exp
from lessons_lib.models import rnn as M
from lessons_lib.data.sequences import (ADDING_BASELINE_MSE, CharVocab, adding_problem, char_windows, pack,
                                   pad_sequences, row_mnist, sample_text, stdlib_text)

TOL = dict(atol=1e-5, rtol=1e-5)


def _pair(kind, i=3, h=5, seed=0):
    torch.manual_seed(seed)
    fused = M.torch_module(kind, i, h).double()
    scratch = M.Recurrent(M.CELLS[kind](i, h)).double()
    M.copy_weights(fused, scratch)
    return fused, scratch


@pytest.mark.parametrize("kind", M.KINDS)
def test_scratch_cells_match_torch_outputs_and_gradients(kind):
    fused, scratch = _pair(kind)
    x = torch.randn(4, 7, 3, dtype=torch.double)
    out_f, _ = fused(x)
    out_s, _ = scratch(x)
    torch.testing.assert_close(out_s, out_f, **TOL)
    out_f.square().sum().backward()
    out_s.square().sum().backward()
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        torch.testing.assert_close(getattr(scratch.cell, k).grad, getattr(fused, k + "_l0").grad, **TOL)


@pytest.mark.parametrize("kind", M.KINDS)
def test_parameter_count_closed_form(kind):
    fused, scratch = _pair(kind, 10, 20)
    n = M.parameter_count(kind, 10, 20)
    assert n == sum(p.numel() for p in fused.parameters()) == sum(p.numel() for p in scratch.parameters())


def test_unrolled_network_is_the_same_function_and_bptt_sums_copies():
    torch.manual_seed(0)
    cell = M.RNNCell(3, 4).double()
    net = M.unroll(cell, 6)
    x = torch.randn(2, 6, 3, dtype=torch.double)
    out_r, _ = M.Recurrent(cell)(x)
    out_u, _ = net(x)
    torch.testing.assert_close(out_u, out_r)
    out_r.sum().backward()
    out_u.sum().backward()
    summed = sum(layer.weight_hh.grad for layer in net.layers)
    torch.testing.assert_close(cell.weight_hh.grad, summed)
    with pytest.raises(ValueError, match="steps"):
        M.unroll(cell, 0)


@pytest.mark.parametrize("kind", M.KINDS)
def test_lengths_freeze_state_like_running_alone(kind):
    fused, scratch = _pair(kind)
    seqs = [torch.randn(n, 3, dtype=torch.double) for n in (5, 2, 4)]
    padded, lengths = pad_sequences(seqs)
    _, state = scratch(padded, lengths=lengths)
    _, packed_state = fused(pack(padded, lengths, enforce_sorted=False))
    for b, s in enumerate(seqs):
        _, alone = scratch(s[None])
        h = alone[0] if isinstance(alone, tuple) else alone
        hs = state[0] if isinstance(state, tuple) else state
        hp = packed_state[0] if isinstance(packed_state, tuple) else packed_state
        torch.testing.assert_close(hs[b], h[0])
        torch.testing.assert_close(hp[0, b], h[0])


def test_bad_lengths_raise_clear_errors():
    padded, _ = pad_sequences([torch.randn(4, 3), torch.randn(2, 3)])
    with pytest.raises(ValueError, match="one length per sequence"):
        pack(padded, [4, 2, 1])
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack(padded, [2, 4])
    with pytest.raises(ValueError, match=r"1\.\.4"):
        pack(padded, [5, 2])
    scratch = M.Recurrent(M.RNNCell(3, 2))
    with pytest.raises(ValueError, match="one length per sequence"):
        scratch(padded, lengths=[4])
    with pytest.raises(ValueError, match=r"x must be \(batch, steps, 3\)"):
        scratch(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="seqs\\[1\\]"):
        pad_sequences([torch.randn(4, 3), torch.randn(2, 2)])
    with pytest.raises(ValueError, match="kind"):
        M.torch_module("transformer", 3, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        M.LSTMCell(3, 0)


def test_adding_problem():
    x, y = adding_problem(500, 20, seed=1)
    assert x.shape == (500, 20, 2) and y.shape == (500,)
    assert (x[..., 1].sum(1) == 2).all()
    assert (x[:, :10, 1].sum(1) == 1).all()
    torch.testing.assert_close((x[..., 0] * x[..., 1]).sum(1), y)
    assert abs(((y - 1) ** 2).mean() - ADDING_BASELINE_MSE) < 0.03
    assert torch.equal(adding_problem(5, 20, seed=1)[0], adding_problem(5, 20, seed=1)[0])
    with pytest.raises(ValueError, match="length"):
        adding_problem(5, 1)


def test_row_mnist_and_sequence_model_shapes():
    imgs = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    x = row_mnist(imgs)
    assert x.shape == (3, 28, 28) and x.max() <= 1
    with pytest.raises(ValueError, match="images"):
        row_mnist(torch.zeros(3, 32, 32))
    model = M.SequenceModel("gru", 28, 8, 10)
    assert model(imgs[:, None].float()).shape == (3, 10)
    lm = M.SequenceModel("lstm", 4, 8, 11, many_to_one=False, embedding=11)
    assert lm(torch.randint(0, 11, (2, 5))).shape == (2, 5, 11)


def test_stdlib_corpus_vocab_windows_and_sampling():
    text, record = stdlib_text(["textwrap.py", "bisect.py"])
    assert record["files"][0]["file"] == "textwrap.py" and record["chars"] == len(text) > 1000
    with pytest.raises(ValueError, match="not in this Python"):
        stdlib_text(["no_such_module.py"])
    vocab = CharVocab(text)
    ids = vocab.encode(text[:100])
    assert vocab.decode(ids) == text[:100]
    x, y = char_windows(ids, 10)
    assert x.shape == (9, 10) and torch.equal(x[:, 1:], y[:, :-1])
    lm = M.SequenceModel("gru", 4, 8, len(vocab), many_to_one=False, embedding=len(vocab))
    s = sample_text(lm, vocab, "def ", 20, temperature=0.8)
    assert len(s) == 20 and set(s) <= set(vocab.chars)


def test_gradient_norms_and_speed_helpers():
    model = M.SequenceModel("lstm", 2, 8, 1)
    x, y = adding_problem(16, 12)
    g = exp.hidden_gradient_norms(model, x, y)
    assert g.shape == (12,) and (g > 0).all()
    r = exp.loop_vs_fused("gru", batch=4, steps=5, hidden=8, input_size=3, repeats=1)
    assert r["loop_s"] > 0 and r["fused_s"] > 0


def test_gradient_ratio_summaries():
    norms = 0.5 ** torch.arange(20, 0, -1, dtype=torch.float64)      # the last step 0.5, each step back halves
    r = exp.gradient_ratios(norms)
    assert r[0] == 1 and torch.allclose(r[3], torch.tensor(0.125, dtype=torch.float64))
    assert exp.decay_per_step(norms) == pytest.approx(0.5)
    assert exp.median_ratio(norms) == pytest.approx(0.5 ** 10)        # distances 2..18, median 10
    flat = torch.ones(20)
    assert exp.median_ratio(flat) == 1 and exp.decay_per_step(flat) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="1-D tensor of at least 3"):
        exp.median_ratio(torch.ones(2))


def test_gate_values_are_what_forward_uses():
    torch.manual_seed(0)
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    lstm = M.LSTMCell(3, 5)
    i, f, g, o = lstm.gate_values(x, h)
    c0 = torch.randn(4, 5)
    h1, c1 = lstm(x, (h, c0))
    torch.testing.assert_close(c1, f * c0 + i * g)
    torch.testing.assert_close(h1, o * torch.tanh(c1))
    gru = M.GRUCell(3, 5)
    r, z, n = gru.gate_values(x, h)
    torch.testing.assert_close(gru(x, h), z * h + (1 - z) * n)
    assert ((0 < z) & (z < 1)).all() and ((-1 < n) & (n < 1)).all()


def test_keep_gates_follow_the_forget_bias():
    x, _ = adding_problem(8, 6)
    for kind in ("lstm", "gru"):
        assert exp.keep_gates(M.SequenceModel(kind, 2, 4, 1), x).shape == (6, 8, 4)
    torch.manual_seed(0)
    low = exp.keep_gates(M.SequenceModel("lstm", 2, 4, 1), x).mean()
    torch.manual_seed(0)
    high = exp.keep_gates(M.SequenceModel("lstm", 2, 4, 1, forget_bias=3.0), x).mean()
    assert 0.3 < low < 0.7 and high > 0.85
    with pytest.raises(ValueError, match="LSTM or a GRU"):
        exp.keep_gates(M.SequenceModel("rnn", 2, 4, 1), x)


def test_train_adding_stops_once_learned_and_counts_updates():
    run = exp.train_adding("gru", 6, hidden=16, n_train=640, batch_size=32, lr=1e-2, max_epochs=10)
    assert run.learned and run.updates == len(run.history) * 20 and run.updates_per_epoch == 20
    assert run.mse < exp.LEARNED_MSE and all(h["test_loss"] >= exp.LEARNED_MSE for h in run.history[:-1])
    stuck = exp.train_adding("rnn", 6, hidden=2, n_train=64, batch_size=32, lr=1e-6, max_epochs=2)
    assert not stuck.learned and stuck.updates is None and len(stuck.history) == 2
    with pytest.raises(ValueError, match="max_epochs"):
        exp.train_adding("rnn", 6, max_epochs=0)


def test_train_adding_resumes_from_its_checkpoint(tmp_path):
    ckpt = tmp_path / "run.pt"
    kw = dict(hidden=4, n_train=64, batch_size=32, lr=1e-6, checkpoint=ckpt)   # too slow to learn: runs every epoch
    first = exp.train_adding("lstm", 5, max_epochs=2, **kw)
    again = exp.train_adding("lstm", 5, max_epochs=3, **kw)      # picks up the 2 epochs done, trains a third
    assert len(first.history) == 2 and len(again.history) == 3
    assert [h["test_loss"] for h in again.history[:2]] == [h["test_loss"] for h in first.history]
    assert again.history[0]["time"] == first.history[0]["time"]   # loaded, not retrained


@pytest.mark.parametrize("name", ["rnn_adding", "rnn_row_mnist", "rnn_char", "rnn_loop_vs_fused"])
def test_registered_experiments_run_at_smoke(tmp_path, name):
    rec = reproduce.run(name, profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    assert rec["summary"] and (tmp_path / f"{name}.json").is_file()


def test_adding_experiment_records_updates_and_gradients(tmp_path):
    rec = reproduce.run("rnn_adding", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    s = rec["summary"]
    for kind in M.KINDS:
        assert {f"{kind}_T5.{m}" for m in ("learned", "updates", "final_mse", "median_ratio_before",
                                           "median_ratio_after")} <= set(s)


def test_char_experiment_reports_best_epoch(tmp_path):
    rec = reproduce.run("rnn_char", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False,
                        overrides={"char_epochs": 2, "char_hidden": 8})
    s = rec["summary"]
    for kind in ("rnn", "lstm"):
        assert s[f"{kind}.best_val_perplexity"]["mean"] <= s[f"{kind}.val_perplexity"]["mean"]
        assert s[f"{kind}.best_epoch"]["mean"] in (1.0, 2.0)
        assert 0 <= s[f"{kind}.indentation_unit_r"]["mean"] <= 1


@pytest.mark.parametrize("name, sets", [
    ("rnn_adding", ["lengths=[6]", "max_epochs=1", "n_train=256", "hidden=8"]),
    ("rnn_char", ["char_epochs=1", "char_max_chars=50000", "char_seq_len=16", "char_hidden=8", "sample_chars=5"]),
    ("rnn_loop_vs_fused", ["speed_steps=4", "speed_hidden=8", "speed_repeats=1"]),
])
def test_full_profile_experiments_run_with_small_overrides(tmp_path, name, sets):
    """The full profile's code path on the CPU, sized down."""
    argv = [name, "--profile", "full", "--device", "cpu", "--out", str(tmp_path), "--seeds", "1"]
    for s in sets:
        argv += ["--set", s]
    assert reproduce.main(argv) == 0
    rec = json.loads((tmp_path / f"{name}.json").read_text())
    assert rec["profile"] == "full" and rec["overrides"] and rec["summary"]


def test_unknown_override_is_refused(tmp_path, capsys):
    assert reproduce.main(["rnn_adding", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path),
                           "--set", "hiden=8"]) == 2
    assert "unknown overrides ['hiden']" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gradient_norms_of_a_model_on_the_gpu():
    model = M.SequenceModel("gru", 2, 8, 1).cuda()
    x, y = adding_problem(4, 6)
    g = exp.hidden_gradient_norms(model, x, y)
    assert g.shape == (6,) and (g > 0).all()
    r = exp.loop_vs_fused("lstm", batch=4, steps=5, hidden=8, input_size=3, device="cuda", repeats=1)
    assert r["loop_s"] > 0 and r["fused_s"] > 0


def test_train_adding_accepts_a_given_model():
    model = M.SequenceModel("rnn", 2, 4, 1)
    model.body.rnn = torch.nn.RNN(2, 4, nonlinearity="relu", batch_first=True)
    run = exp.train_adding("rnn", 6, n_train=64, batch_size=32, max_epochs=1, model=model)
    assert run.model is model and len(run.history) == 1
    with pytest.raises(ValueError, match="model must be"):
        exp.train_adding("rnn", 6, max_epochs=1, model="irnn")


def test_train_adding_sets_the_lstm_forget_bias_only():
    lstm = exp.train_adding("lstm", 5, n_train=64, hidden=4, max_epochs=1, lr=1e-12, forget_bias=1.0).model.body.rnn
    total = lstm.bias_ih_l0 + lstm.bias_hh_l0  # rows H..2H of PyTorch's LSTM biases are the forget gate's
    assert torch.allclose(total[4:8], torch.ones(4), atol=1e-6) and not torch.allclose(total[:4], torch.ones(4))
    gru = exp.train_adding("gru", 5, n_train=64, hidden=4, max_epochs=1, lr=1e-12, forget_bias=1.0).model.body.rnn
    assert not torch.allclose((gru.bias_ih_l0 + gru.bias_hh_l0)[4:8], torch.ones(4))
    assert exp.SETTINGS("full").forget_bias == 0.0 and exp.SETTINGS("standard").forget_bias == 0.0


def test_held_out_blocks_split_the_text_without_overlap():
    train, held = exp.held_out_blocks(52_000, block=5000, every=10)
    assert held == [(45_000, 50_000)] and train[-1] == (50_000, 52_000) and len(train) == 10
    covered = sorted(train + held)
    assert all(a == b0 for (_, a), (b0, _) in zip([(0, 0)] + covered, covered))   # contiguous, no gap, no overlap
    with pytest.raises(ValueError, match="fewer than 10 blocks"):
        exp.held_out_blocks(40_000)
    vocab, (x, y), (xv, yv), record = exp.char_data(16, 60_000)
    assert x.shape[1] == xv.shape[1] == 16 and torch.equal(x[:, 1:], y[:, :-1]) and "held out" in record["split"]
    assert len(xv) == (5000 - 17) // 16 + 1      # one held-out block of 5,000 characters, windows every 16


def test_line_features_and_unit_correlations():
    f = exp.line_features("ab\n  cd\n")
    assert f["indentation"].tolist() == [0, 0, 1, 1, 1, 0, 0, 1]
    assert f["column"].tolist() == [1, 2, 0, 1, 2, 3, 4, 0]
    acts = torch.stack([f["column"], -f["column"], torch.ones(8)], dim=1)
    r = exp.correlations(acts, f["column"])
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0) and r[2] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="acts must be"):
        exp.correlations(acts, torch.ones(3))
    vocab = CharVocab("ab \ncd")
    lm = M.SequenceModel("lstm", 4, 6, len(vocab), many_to_one=False, embedding=len(vocab))
    ids = vocab.encode("ab\n  cd\n")
    acts = exp.unit_activity(lm, ids)
    assert acts["h"].shape == acts["c"].shape == (8, 6)
    out, _ = lm.body.rnn(lm.embed(ids)[None])
    torch.testing.assert_close(acts["h"], out[0].detach())      # the same states as the fused module
    best = exp.best_unit(lm, ids, f["indentation"])
    assert best["state"] in ("h", "c") and 0 <= best["unit"] < 6 and best["activity"].shape == (8,)


def test_settings_hold_three_seeds_and_the_full_scale_of_the_claims():
    for profile in ("standard", "full"):
        assert exp.SETTINGS(profile).seeds == 3 and exp.APPLICATIONS_SETTINGS(profile).seeds == 3
    assert exp.SETTINGS("full").lengths[-1] == 400
    assert exp.SETTINGS("full").max_epochs * exp.SETTINGS("full").n_train // exp.SETTINGS("full").batch_size == 4800
