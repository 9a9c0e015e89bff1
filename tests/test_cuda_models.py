"""Whole models on CUDA (a GPU, or the emulator with FIBRIL_CUDA_EMULATOR=1): a few training
steps of each classic model family give the same losses and weights as on the CPU, and fit()
trains on a device. Tiny shapes: the emulator runs every CUDA thread on the CPU."""

import numpy as np
import pytest

import fibril
from fibril import nn
from fibril.data import DataLoader, TensorDataset
from fibril.train import fit

pytestmark = pytest.mark.cuda


def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(5, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.norm(self.layer(x)).mean(1))


# Optimizers that divide by a gradient's running scale (Adam, RMSprop) turn rounding noise in an
# exactly-zero gradient into full-size steps: the attention key bias and a conv bias before
# batch norm have such gradients, so those models train with SGD.
MODELS = {  # name -> (make model, input shape, optimizer)
    "mlp": (mlp, (8, 6), lambda p: fibril.optim.Adam(p, lr=1e-2)),
    "mlp_rmsprop": (mlp, (8, 6), lambda p: fibril.optim.RMSprop(p, lr=1e-3)),
    "cnn": (cnn, (8, 1, 8, 8), lambda p: fibril.optim.SGD(p, lr=0.1, momentum=0.9)),
    "lstm": (LSTMClassifier, (4, 6, 5), lambda p: fibril.optim.AdamW(p, lr=1e-2)),
    "transformer": (TinyTransformer, (4, 5, 8), lambda p: fibril.optim.SGD(p, lr=0.1, weight_decay=1e-2)),
}


def run_steps(name, device, steps=3):
    make, shape, optimizer = MODELS[name]
    fibril.manual_seed(0)
    model = make().to(device)
    opt = optimizer(model.parameters())
    rng = np.random.default_rng(0)
    x = fibril.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
    y = fibril.tensor(rng.integers(0, 3, shape[0]), device=device)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_steps_match_cpu(name):
    cpu_losses, cpu_state = run_steps(name, "cpu")
    cuda_losses, cuda_state = run_steps(name, "cuda")
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    for key, value in cpu_state.items():
        np.testing.assert_allclose(cuda_state[key], value, rtol=1e-3, atol=1e-4, err_msg=key)


def test_fit_on_cuda_learns():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 96)
    x = (rng.standard_normal((96, 6)) * 0.3 + np.eye(6)[labels * 2] * 2).astype(np.float32)
    data = TensorDataset(fibril.tensor(x), fibril.tensor(labels))
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), fibril.optim.Adam(model.parameters(), lr=2e-2),
                  DataLoader(data, batch_size=32, shuffle=True, generator=fibril.Generator().manual_seed(0)),
                  epochs=8, metrics=["accuracy"], progress=False, device="cuda")
    assert all(p.device == "cuda:0" for p in model.parameters())
    assert history.history["accuracy"][-1] > 0.9


def test_helpers_made_on_the_inputs_device():
    """Pieces that build a helper tensor (a mask, an index, padding) build it on the input's
    device: each of these raised a mixed-device error on CUDA."""
    x = fibril.randn(3, 4, device="cuda")
    np.testing.assert_array_equal(x.tril(1).cpu().numpy(), np.tril(x.cpu().numpy(), 1))
    np.testing.assert_array_equal(x.triu(-1).cpu().numpy(), np.triu(x.cpu().numpy(), -1))
    assert nn.Dropout2d(1.0)(fibril.ones(2, 3, 4, 4, device="cuda")).device == "cuda:0"
    mha = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True).to("cuda")
    q = fibril.randn(2, 5, 8, device="cuda")
    pad = fibril.tensor([[False] * 4 + [True], [False] * 5], device="cuda")
    causal = nn.Transformer.generate_square_subsequent_mask(5).to("cuda") < 0
    out, _ = mha(q, q, q, key_padding_mask=pad, attn_mask=causal)
    assert out.device == "cuda:0"
    packed = nn.utils.rnn.pack_padded_sequence(fibril.randn(2, 4, 3, device="cuda"), [4, 2], batch_first=True)
    out, (h, c) = nn.LSTM(3, 5, batch_first=True).to("cuda")(packed)
    assert out.data.device == h.device == "cuda:0"


def test_optimizer_state_loads_onto_the_params_device_and_clipping_runs():
    cpu_p = nn.Parameter(fibril.ones(3))
    cpu_p.grad = fibril.ones(3)
    cpu_opt = fibril.optim.Adam([cpu_p])
    cpu_opt.step()
    p = nn.Parameter(fibril.ones(3, device="cuda"))
    p.grad = fibril.full((3,), 4.0, device="cuda")
    opt = fibril.optim.Adam([p])
    opt.load_state_dict(cpu_opt.state_dict())
    assert opt.state[p]["exp_avg"].device == "cuda:0"
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert total.device == "cuda:0" and abs(total.item() - 48 ** 0.5) < 1e-5
    np.testing.assert_allclose(p.grad.cpu().numpy(), 4 / (48 ** 0.5 + 1e-6), rtol=1e-6)
    opt.step()
