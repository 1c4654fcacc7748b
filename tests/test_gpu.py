"""Checks that need a CUDA GPU; skipped elsewhere (CI has none). Run them on a GPU machine with
``python -m pytest tests/test_gpu.py``."""
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def deterministic():
    old = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


def _train(sample, fast, epochs=3):
    from lessons_lib.experiments.lenet import train_lenet

    return train_lenet("caffe", epochs, seed=0, device="cuda", data=sample, fast=fast,
                       live_plot=False, verbose=False)


def test_cuda_graph_step_equals_eager_step(sample):
    eager, graph = _train(sample, False), _train(sample, True)
    for (name, a), b in zip(eager.model.state_dict().items(), graph.model.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name
    for r, s in zip(eager.history, graph.history):
        assert r["train_loss"] == pytest.approx(s["train_loss"], rel=1e-4)
        assert r["test_accuracy"] == pytest.approx(s["test_accuracy"], abs=2e-3)
    # the learning-rate schedule ran inside the graph: Caffe's inv policy after all steps
    steps = 3 * (len(sample[0]) // 64)
    assert graph.optimizer.current_lr().item() == pytest.approx(0.01 * (1 + 1e-4 * steps) ** -0.75, rel=1e-5)


def test_bf16_channels_last_trains(sample):
    from lessons_lib.data import DeviceLoader
    from lessons_lib.models import LeNet
    from lessons_lib.training import FastTrainer

    model = LeNet(conv_relu=True)
    t = FastTrainer(model, torch.optim.SGD(model.parameters(), 0.05, momentum=0.9), device="cuda", bf16=True,
                channels_last=True, live_plot=False, verbose=False)
    h = t.fit(DeviceLoader(sample[0].images, sample[0].labels, 64, device="cuda", drop_last=True),
              DeviceLoader(sample[1].images, sample[1].labels, 500, device="cuda", shuffle=False), epochs=3)
    assert h.last["test_accuracy"] > 0.85


def test_graph_rejects_a_batch_of_another_shape(sample):
    from lessons_lib.data import DeviceLoader
    from lessons_lib.models import LeNet
    from lessons_lib.training import FastTrainer

    model = LeNet()
    t = FastTrainer(model, torch.optim.SGD(model.parameters(), 0.01), device="cuda", cuda_graph=True,
                live_plot=False, verbose=False)
    with pytest.raises(ValueError, match="drop_last=True"):
        t.fit(DeviceLoader(sample[0].images[:100], sample[0].labels[:100], 64, device="cuda"), epochs=1)


def test_cuda_graph_with_caffe_xavier_param_groups(sample):
    """Caffe's full recipe (two parameter groups) in a graph: the bias group's learning rate is twice."""
    from lessons_lib.experiments.lenet import train_lenet

    t = train_lenet("caffe_xavier", 1, seed=0, device="cuda", data=sample, fast=True, live_plot=False, verbose=False)
    lrs = [float(t.optimizer.current_lr(g)) for g in t.optimizer.param_groups]
    assert lrs[1] == pytest.approx(2 * lrs[0]) and t.history.last["test_accuracy"] > 0.8
