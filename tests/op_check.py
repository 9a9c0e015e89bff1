"""check_op: one call checks a Tensor op's forward against a numpy float64 reference and
PyTorch (when importable), its gradients against PyTorch's, and runs gradcheck.
check_program does the same for a few lines of code written for both libraries."""

import numpy as np
import pytest

import fibril

try:
    import torch
except ImportError:
    torch = None


@pytest.fixture(autouse=True, scope="module")
def torch_one_thread():
    """torch on one thread for a module's tests (import it there to use it): its OpenMP threads
    spin, and on a loaded 2-core machine its small steps crawl."""
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_inputs(shapes, seed=0, low=-2.0, high=2.0, transform=None):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(low, high, size=s) for s in shapes]
    return [transform(a) if transform else a for a in arrays]


def check_op(fibril_fn, torch_fn, arrays, numpy_fn=None, atol=1e-6, rtol=1e-6, grad=True, gradcheck=True,
             layout=None):
    """arrays: float64 numpy inputs. layout(t) may turn each fibril/torch input into a
    non-contiguous view of the same values (e.g. lambda t: t.T.contiguous().T)."""
    layout = layout or (lambda t: t)
    xs = [fibril.tensor(a, requires_grad=grad) for a in arrays]
    out = fibril_fn(*[layout(x) for x in xs])
    if numpy_fn is not None:
        np.testing.assert_allclose(out.detach().numpy(), numpy_fn(*arrays), atol=atol, rtol=rtol)
    if torch is not None:
        ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
        ref = torch_fn(*[layout(t) for t in ts])
        assert tuple(out.shape) == tuple(ref.shape), (out.shape, ref.shape)
        assert out.dtype.name == str(ref.dtype).replace("torch.", "")
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=atol, rtol=rtol)
        if grad and ref.requires_grad:
            cot = np.random.default_rng(99).standard_normal(tuple(ref.shape))
            ref.backward(torch.tensor(cot))
            out.backward(fibril.tensor(cot))
            for x, t in zip(xs, ts):
                expected = None if t.grad is None else t.grad.numpy()
                got = None if x.grad is None else x.grad.numpy()
                if expected is None:
                    assert got is None or np.all(got == 0)
                else:
                    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)
    if grad and gradcheck:
        small = [fibril.tensor(a, requires_grad=True) for a in arrays]
        assert fibril.testing.gradcheck(lambda *ts: fibril_fn(*[layout(t) for t in ts]), small)
    return out


def check_program(program, shapes, layout=None):
    """Runs program(lib, *leaves) on float64 leaves (values in [0.5, 2]) with fibril and, when
    it imports, torch: same output and leaf gradients; then gradcheck on fibril. layout(t)
    may give each leaf a non-contiguous view of the same values."""
    layout = layout or (lambda t: t)
    rng = np.random.default_rng(1)
    arrays = [rng.uniform(0.5, 2.0, size=s) for s in shapes]
    leaves = [fibril.tensor(a, requires_grad=True) for a in arrays]
    out = program(fibril, *[layout(x) for x in leaves])
    cot = rng.standard_normal(tuple(out.shape))
    out.backward(fibril.tensor(cot))
    if torch is not None:
        refs = [torch.tensor(a, requires_grad=True) for a in arrays]
        expected = program(torch, *[layout(t) for t in refs])
        np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        expected.backward(torch.tensor(cot))
        for x, t in zip(leaves, refs):
            want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    small = [fibril.tensor(a, requires_grad=True) for a in arrays]
    assert fibril.testing.gradcheck(lambda *ts: program(fibril, *[layout(t) for t in ts]), small)


def on_cpu_and_cuda(fn, arrays, grad=True, seed=0, scalar_grad=False):
    """fn(device, *leaves) on "cpu" and on "cuda": per device, [output, leaf gradients...] as
    numpy. The output's gradient is standard normal (seeded), or with scalar_grad one value
    read in place for every element (a stride-0 expand)."""
    results = []
    for device in ("cpu", "cuda"):
        leaves = [fibril.tensor(a, device=device, requires_grad=grad) for a in arrays]
        y = fn(device, *leaves)
        got = [y.detach().cpu().numpy()]
        if grad:
            if scalar_grad:
                g = fibril.tensor(np.asarray(1.5, arrays[0].dtype), device=device).expand(tuple(y.shape))
            else:
                g = fibril.tensor(np.random.default_rng(seed).standard_normal(tuple(y.shape)).astype(arrays[0].dtype),
                                  device=device)
            y.backward(g)
            got += [None if t.grad is None else t.grad.cpu().numpy() for t in leaves]
        results.append(got)
    return results


def assert_all_close(cpu, cuda, rtol, atol):
    """The two lists of on_cpu_and_cuda agree: same dtypes, shapes, values within tolerance."""
    for want, got in zip(cpu, cuda):
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def overflow_raises(op, value):
    """Whether op(value) raises the out-of-range error torch and fibril give for a number the
    dtype cannot hold (RuntimeError "... without overflow")."""
    try:
        op(value)
    except RuntimeError as e:
        assert "without overflow" in str(e)
        return True
    return False
