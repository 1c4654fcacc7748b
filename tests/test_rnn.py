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
    with pytest.raises(ValueError, match=r"shape \(batch, steps, 3\)"):
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


@pytest.mark.parametrize("name", ["rnn_adding", "rnn_row_mnist", "rnn_char", "rnn_loop_vs_fused"])
def test_registered_experiments_run_at_smoke(tmp_path, name):
    rec = reproduce.run(name, profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    assert rec["summary"] and (tmp_path / f"{name}.json").is_file()


def test_char_experiment_reports_best_epoch(tmp_path):
    rec = reproduce.run("rnn_char", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False,
                        overrides={"epochs": 2, "max_chars": 4000, "hidden": 8})
    s = rec["summary"]
    for kind in M.KINDS:
        assert s[f"{kind}.best_val_perplexity"]["mean"] <= s[f"{kind}.val_perplexity"]["mean"]
        assert s[f"{kind}.best_epoch"]["mean"] in (1.0, 2.0)


@pytest.mark.parametrize("name, sets", [
    ("rnn_adding", ["lengths=[6]", "epochs=1", "n_train=256", "hidden=8"]),
    ("rnn_char", ["epochs=1", "max_chars=4000", "seq_len=16", "hidden=8"]),
    ("rnn_loop_vs_fused", ["steps=4", "hidden=8"]),
])
def test_full_profile_experiments_run_with_small_overrides(tmp_path, name, sets):
    """The full profile's code path (full-only branches, e.g. 200-character samples) on the CPU, sized down."""
    argv = [name, "--profile", "full", "--device", "cpu", "--out", str(tmp_path)]
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
    tr = exp.train_adding("rnn", 6, 1, 64, n_test=32, batch_size=32, model=model)
    assert tr.model is model and len(tr.history) == 1
    with pytest.raises(ValueError, match="model must be"):
        exp.train_adding("rnn", 6, 1, 64, model="irnn")


def test_train_adding_sets_the_lstm_forget_bias_only():
    from lessons_lib.experiments.rnn import ADDING, train_adding

    quiet = dict(live_plot=False, verbose=False)
    lstm = train_adding("lstm", 5, 0, 64, n_test=64, hidden=4, forget_bias=1.0, **quiet).model.body.rnn
    total = lstm.bias_ih_l0 + lstm.bias_hh_l0  # rows H..2H of PyTorch's LSTM biases are the forget gate's
    assert torch.allclose(total[4:8], torch.ones(4)) and not torch.allclose(total[:4], torch.ones(4))
    gru = train_adding("gru", 5, 0, 64, n_test=64, hidden=4, forget_bias=1.0, **quiet).model.body.rnn
    assert not torch.allclose((gru.bias_ih_l0 + gru.bias_hh_l0)[4:8], torch.ones(4))
    assert ADDING("full").forget_bias == 1.0 and ADDING("standard").forget_bias == 0.0
