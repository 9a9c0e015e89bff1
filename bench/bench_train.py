"""Train family: end-to-end training steps of the same model, loss, optimizer and loop in
fibril, PyTorch and numpy (hand-written backward), from the same initial weights.

Cases, per model: "step" runs forward, cross-entropy, backward and an SGD-momentum step on
one fixed batch; "loop" also takes the batch from the library's DataLoader over a
TensorDataset (numpy: slicing), as a training loop does. The time column is per step, so
steps/s = 1 / time. GFLOP/s counts the matmuls: 2*B*in*out forward, as much again for the
weight gradients, and for the input gradients of every layer but the first.

The check compares the loss of each library's first step with numpy's. To add a model
(the CNN), add its torch-layout weights to WEIGHTS, a builder to FIBRIL/TORCH and a numpy
step to NUMPY, and a row to MODELS.
"""
import functools
import itertools

import numpy as np

from bench.harness import Case

LR, MOMENTUM = 0.01, 0.9
CLASSES = 10
# name -> (samples, batch, layer widths); the MNIST-sized data is generated, not downloaded
MODELS = {"MLP digits": (1797, 32, (64, 256, 10)), "MLP 28x28": (8192, 128, (784, 256, 256, 10))}

_live = {}  # (case, lib) -> step function of the case being timed
_referenced = set()


def mlp_flops(batch, widths):
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(2 * batch * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(pairs))


def inputs(model):
    samples, _, widths = MODELS[model]
    rng = np.random.default_rng(0)
    x = rng.random((samples, widths[0]), dtype=np.float32)
    y = rng.integers(0, CLASSES, samples)
    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        bound = 1 / np.sqrt(a)
        params += [rng.uniform(-bound, bound, (b, a)).astype(np.float32),
                   rng.uniform(-bound, bound, b).astype(np.float32)]
    return (x, y, *params)


def batches(lib, x, y, batch, loop):
    """An endless iterator of (x, y) batches: the fixed first batch, or the library's loader."""
    if not loop:
        first = (x[:batch], y[:batch])
        return itertools.repeat(first)
    if lib == "numpy":
        starts = itertools.cycle(range(0, len(x) - batch + 1, batch))
        return ((x[s:s + batch], y[s:s + batch]) for s in starts)
    if lib == "fibril":
        from fibril.data import DataLoader, TensorDataset
    else:
        from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, drop_last=True)
    return itertools.chain.from_iterable(itertools.repeat(loader))


def fibril_mlp(params):
    import fibril
    from fibril import nn

    layers = []
    for i in range(0, len(params), 2):
        layers += [nn.Linear(params[i].shape[1], params[i].shape[0]), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    model.load_state_dict({f"{i}.{kind}": p for i, (w, b) in zip(range(0, len(layers), 2),
                                                                   zip(params[::2], params[1::2]))
                           for kind, p in (("weight", w), ("bias", b))})
    return model, nn.CrossEntropyLoss(), fibril.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def torch_mlp(params):
    import torch

    layers = []
    for i in range(0, len(params), 2):
        layers += [torch.nn.Linear(params[i].shape[1], params[i].shape[0]), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        for m, w, b in zip(linears, params[::2], params[1::2]):
            m.weight.copy_(w)
            m.bias.copy_(b)
    return model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def framework_stepper(lib, build, x, y, params, batch, loop):
    model, loss_fn, optimizer = build(params)
    data = batches(lib, x, y, batch, loop)

    def step():
        xb, yb = next(data)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def numpy_mlp(x, y, params, batch, loop):
    """Forward, softmax cross-entropy, backward and torch's SGD momentum, in numpy."""
    params = [p.copy() for p in params]
    buffers = [None] * len(params)
    data = batches("numpy", x, y, batch, loop)

    def step():
        xb, yb = next(data)
        acts = [xb]
        for i in range(0, len(params), 2):
            h = acts[-1] @ params[i].T + params[i + 1]
            acts.append(np.maximum(h, 0) if i + 2 < len(params) else h)
        logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        n = len(yb)
        loss = -np.log(p[np.arange(n), yb]).mean(dtype=np.float32)
        grad = p
        grad[np.arange(n), yb] -= 1
        grad /= n
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i], grads[i + 1] = grad.T @ acts[i // 2], grad.sum(axis=0)
            if i:
                grad = (grad @ params[i]) * (acts[i // 2] > 0)
        for j, (p_, g) in enumerate(zip(params, grads)):
            buffers[j] = g.copy() if buffers[j] is None else buffers[j] * np.float32(MOMENTUM) + g
            p_ -= np.float32(LR) * buffers[j]
        return np.float32(loss)

    return step


FIBRIL = {"MLP": fibril_mlp}
TORCH = {"MLP": torch_mlp}
NUMPY = {"MLP": numpy_mlp}


def stepper(case, lib, kind, batch, loop):
    """An op that builds its model on the first call and takes one training step per call;
    numpy's first call is the harness's reference: the first step of a throwaway model."""

    def op(x, y, *params):
        if lib == "numpy":
            build = functools.partial(NUMPY[kind], np.asarray(x), np.asarray(y), params, batch, loop)
            if case not in _referenced:
                _referenced.add(case)
                return build()()
        elif lib == "fibril":
            build = functools.partial(framework_stepper, lib, FIBRIL[kind], x, y, params, batch, loop)
        else:
            build = functools.partial(framework_stepper, lib, TORCH[kind], x, y, params, batch, loop)
        key = (case, lib)
        if key not in _live:
            _live.clear()
            _live[key] = build()
        return _live[key]()

    return op


def assert_close(out, ref, inputs):
    np.testing.assert_allclose(np.asarray(out, dtype=np.float32), ref, rtol=1e-4)


def cases(quick):
    out = []
    for model, (_, batch, widths) in MODELS.items():
        kind = model.split()[0]
        for loop in ((True,) if quick else (False, True)):
            case = f"{model} b{batch} {'loop' if loop else 'step'}"
            out.append(Case(
                name=case,
                work=mlp_flops(batch, widths),
                unit="GFLOP/s",
                inputs=functools.partial(inputs, model),
                ops={lib: stepper(case, lib, kind, batch, loop) for lib in ("fibril", "numpy", "torch")},
                check=assert_close,
            ))
    return out
