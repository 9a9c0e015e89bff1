"""Train family: end-to-end training steps of the same model, loss, optimizer and loop in
fibril, PyTorch and numpy (hand-written backward, convolutions through im2col), from the
same initial weights. The CNN is conv3x3(16)-ReLU-maxpool2-conv3x3(32)-ReLU-maxpool2-linear.

Cases, per model: "step" runs forward, cross-entropy, backward and an SGD-momentum step on
one fixed batch; "loop" also takes the batch from the library's DataLoader over a
TensorDataset (numpy: slicing), as a training loop does. The time column is per step, so
steps/s = 1 / time. GFLOP/s counts the matmuls and convolutions: 2*B*in*out
(2*B*H*W*out*in*9) forward, as much again for the weight gradients, and for the input
gradients of every layer but the first.

The check compares the loss of each library's first step with numpy's. --quick runs the
digits-sized loops only.
"""
import functools
import importlib
import itertools

import numpy as np

from bench.harness import Case

LR, MOMENTUM = 0.01, 0.9
CLASSES = 10
CHANNELS = (1, 16, 32)
# name -> (samples, batch, MLP layer widths or CNN image side); the 28x28 data is generated
MODELS = {"MLP digits": (1797, 32, (64, 256, 10)), "MLP 28x28": (8192, 128, (784, 256, 256, 10)),
          "CNN digits": (1797, 32, 8), "CNN 28x28": (8192, 128, 28)}

_live = {}  # (case, lib) -> step function, for the case being timed (its libraries alternate)
_referenced = set()


def mlp_flops(batch, widths):
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(2 * batch * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(pairs))


def cnn_flops(batch, side):
    total, (c0, c1, c2) = 0, CHANNELS
    for i, (cin, cout, s) in enumerate([(c0, c1, side), (c1, c2, side // 2)]):
        total += 2 * batch * s * s * cout * cin * 9 * (2 if i == 0 else 3)
    return total + 2 * batch * c2 * (side // 4) ** 2 * CLASSES * 3


def shapes(model):
    """The torch-layout weight shapes of `model`, as (out, in, ...) pairs."""
    _, _, arch = MODELS[model]
    if model.startswith("MLP"):
        return [(b, a) for a, b in zip(arch[:-1], arch[1:])]
    c0, c1, c2 = CHANNELS
    return [(c1, c0, 3, 3), (c2, c1, 3, 3), (CLASSES, c2 * (arch // 4) ** 2)]


def inputs(model):
    samples, _, arch = MODELS[model]
    rng = np.random.default_rng(0)
    x = rng.random((samples, arch[0]) if model.startswith("MLP") else (samples, 1, arch, arch), dtype=np.float32)
    y = rng.integers(0, CLASSES, samples)
    params = []
    for shape in shapes(model):
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        params += [rng.uniform(-bound, bound, shape).astype(np.float32),
                   rng.uniform(-bound, bound, shape[0]).astype(np.float32)]
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


def load(model, params, indices):
    """Copies the torch-layout params into the layers at `indices` of a Sequential."""
    state = {}
    for i, w, b in zip(indices, params[::2], params[1::2]):
        state[f"{i}.weight"], state[f"{i}.bias"] = w, b
    model.load_state_dict(state)
    return model


def build_mlp(lib, params):
    """The MLP, its loss and optimizer in `lib` (fibril or torch: the same API)."""
    layers = []
    for w in params[::2]:
        layers += [lib.nn.Linear(w.shape[1], w.shape[0]), lib.nn.ReLU()]
    model = load(lib.nn.Sequential(*layers[:-1]), params, range(0, len(layers), 2))
    return model, lib.nn.CrossEntropyLoss(), lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def build_cnn(lib, params):
    nn, (c0, c1, c2) = lib.nn, CHANNELS
    model = nn.Sequential(nn.Conv2d(c0, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(params[4].shape[1], CLASSES))
    load(model, params, (0, 3, 7))
    return model, nn.CrossEntropyLoss(), lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def framework_stepper(lib, build, x, y, params, batch, loop):
    model, loss_fn, optimizer = build(importlib.import_module(lib), params)
    data = batches(lib, x, y, batch, loop)

    def step():
        xb, yb = next(data)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def softmax_cross_entropy(logits, y):
    """(loss, gradient of the mean loss by the logits)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean(dtype=np.float32)
    p[np.arange(n), y] -= 1
    return np.float32(loss), p / n


def sgd_momentum(params, grads, buffers):
    """torch's SGD with momentum (the first step's buffer is the gradient), in place."""
    for j, (p, g) in enumerate(zip(params, grads)):
        buffers[j] = g.copy() if buffers[j] is None else buffers[j] * np.float32(MOMENTUM) + g
        p -= np.float32(LR) * buffers[j]


def conv3x3(x, w, b):
    """Convolution with padding 1 through im2col: (output, columns)."""
    n, c, h, width = x.shape
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3),
                                                       axis=(2, 3))
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * width, c * 9)
    out = cols @ w.reshape(len(w), -1).T + b
    return out.reshape(n, h, width, len(w)).transpose(0, 3, 1, 2), cols


def conv3x3_backward(grad, cols, w, x_shape, input_grad):
    """(weight gradient, bias gradient, input gradient or None)."""
    g = grad.transpose(0, 2, 3, 1).reshape(-1, len(w))
    gw, gb = (g.T @ cols).reshape(w.shape), g.sum(axis=0)
    if not input_grad:
        return gw, gb, None
    n, c, h, width = x_shape
    gcols = (g @ w.reshape(len(w), -1)).reshape(n, h, width, c, 3, 3)
    gx = np.zeros((n, c, h + 2, width + 2), dtype=grad.dtype)
    for i in range(3):
        for j in range(3):
            gx[:, :, i:i + h, j:j + width] += gcols[..., i, j].transpose(0, 3, 1, 2)
    return gw, gb, gx[:, :, 1:-1, 1:-1]


def maxpool2(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = r.max(axis=(3, 5))
    return out, r == out[:, :, :, None, :, None]  # ties only where the max is 0: ReLU zeroes them


def numpy_cnn(x, y, params, batch, loop):
    """The CNN's forward, loss, backward and SGD momentum, in numpy."""
    params = [p.copy() for p in params]
    buffers = [None] * len(params)
    data = batches("numpy", x, y, batch, loop)

    def step():
        xb, yb = next(data)
        w1, b1, w2, b2, w3, b3 = params
        h1, cols1 = conv3x3(xb, w1, b1)
        p1, mask1 = maxpool2(np.maximum(h1, 0))
        h2, cols2 = conv3x3(p1, w2, b2)
        p2, mask2 = maxpool2(np.maximum(h2, 0))
        flat = p2.reshape(len(xb), -1)
        loss, grad = softmax_cross_entropy(flat @ w3.T + b3, yb)
        gw3, gb3 = grad.T @ flat, grad.sum(axis=0)
        g = (grad @ w3).reshape(p2.shape)
        g = (mask2 * g[:, :, :, None, :, None]).reshape(h2.shape) * (h2 > 0)
        gw2, gb2, g = conv3x3_backward(g, cols2, w2, p1.shape, True)
        g = (mask1 * g[:, :, :, None, :, None]).reshape(h1.shape) * (h1 > 0)
        gw1, gb1, _ = conv3x3_backward(g, cols1, w1, xb.shape, False)
        sgd_momentum(params, [gw1, gb1, gw2, gb2, gw3, gb3], buffers)
        return loss

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
        loss, grad = softmax_cross_entropy(acts[-1], yb)
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i], grads[i + 1] = grad.T @ acts[i // 2], grad.sum(axis=0)
            if i:
                grad = (grad @ params[i]) * (acts[i // 2] > 0)
        sgd_momentum(params, grads, buffers)
        return loss

    return step


BUILD = {"MLP": build_mlp, "CNN": build_cnn}
NUMPY = {"MLP": numpy_mlp, "CNN": numpy_cnn}


def stepper(case, lib, kind, batch, loop):
    """An op that builds its model on the first call and takes one training step per call;
    numpy's first call is the harness's reference: the first step of a throwaway model."""

    def op(x, y, *params):
        if lib == "numpy":
            build = functools.partial(NUMPY[kind], np.asarray(x), np.asarray(y), params, batch, loop)
            if case not in _referenced:
                _referenced.add(case)
                return build()()
        else:
            build = functools.partial(framework_stepper, lib, BUILD[kind], x, y, params, batch, loop)
        key = (case, lib)
        if key not in _live:
            for other in [k for k in _live if k[0] != case]:
                del _live[other]
            _live[key] = build()
        return _live[key]()

    return op


def assert_close(out, ref, inputs):
    np.testing.assert_allclose(np.asarray(out, dtype=np.float32), ref, rtol=1e-4)


def cases(quick):
    out = []
    for model, (_, batch, arch) in MODELS.items():
        if quick and not model.endswith("digits"):
            continue
        kind = model.split()[0]
        flops = mlp_flops(batch, arch) if kind == "MLP" else cnn_flops(batch, arch)
        for loop in ((True,) if quick else (False, True)):
            case = f"{model} b{batch} {'loop' if loop else 'step'}"
            out.append(Case(
                name=case,
                work=flops,
                unit="GFLOP/s",
                inputs=functools.partial(inputs, model),
                ops={lib: stepper(case, lib, kind, batch, loop) for lib in ("fibril", "numpy", "torch")},
                check=assert_close,
            ))
    return out
