"""AdaptiveLogSoftmaxWithLoss against torch.nn's in float64: parameter names and shapes, repr,
a torch state dict loaded into fibril's module giving equal outputs, losses and gradients
(batched and unbatched), log_prob, predict on each of its three paths, and the errors."""

import numpy as np
import pytest

import fibril
from fibril.nn.adaptive import AdaptiveLogSoftmaxWithLoss
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")

IN, CLASSES, CUTOFFS = 16, 20, [4, 9, 15]


def _pair(head_bias=True, div_value=2.0):
    """fibril's module holding the parameters of torch's."""
    torch.manual_seed(0)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(IN, CLASSES, CUTOFFS, div_value=div_value,
                                                 head_bias=head_bias).double()
    ours = AdaptiveLogSoftmaxWithLoss(IN, CLASSES, CUTOFFS, div_value=div_value, head_bias=head_bias).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _close(a, b, tol=1e-12):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("head_bias,div_value", [(False, 4.0), (True, 2.0)])
def test_parameters_and_repr_match_torch(head_bias, div_value):
    ours = AdaptiveLogSoftmaxWithLoss(IN, CLASSES, CUTOFFS, div_value=div_value, head_bias=head_bias)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(IN, CLASSES, CUTOFFS, div_value=div_value, head_bias=head_bias)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert (ours.cutoffs, ours.shortlist_size, ours.n_clusters, ours.head_size) == \
        (theirs.cutoffs, theirs.shortlist_size, theirs.n_clusters, theirs.head_size)
    bound = 1 / np.sqrt(IN)  # Linear's initialization
    assert 0 < np.abs(ours.head.weight.detach().numpy()).max() <= bound


@pytest.mark.parametrize("targets", [[0, 3, 4, 8, 9, 14, 15, 19, 2], [1, 0, 3, 2], [17, 19, 16]],
                         ids=["every-cluster", "shortlist-only", "last-cluster-only"])
def test_forward_and_gradients_match_torch(targets):
    ours, theirs = _pair()
    x = np.random.default_rng(0).standard_normal((len(targets), IN))
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xf, fibril.tensor(targets)), theirs(xt, torch.tensor(targets))
    assert out._fields == ("output", "loss") and type(out).__name__ == "_ASMoutput"
    _close(out.output, ref.output)
    _close(out.loss, ref.loss)
    out.loss.backward()
    ref.loss.backward()
    _close(xf.grad, xt.grad)
    for name, param in ours.named_parameters():
        expected = theirs.get_parameter(name).grad  # None for the clusters no target is in
        if expected is None:
            assert param.grad is None, name
        else:
            _close(param.grad, expected)


def test_unbatched_input_matches_torch():
    ours, theirs = _pair()
    x = np.random.default_rng(1).standard_normal(IN)
    for target in (2, 11):
        out, ref = ours(fibril.tensor(x), fibril.tensor(target)), theirs(torch.tensor(x), torch.tensor(target))
        assert tuple(out.output.shape) == () and tuple(out.loss.shape) == ()
        _close(out.output, ref.output)
        _close(out.loss, ref.loss)


def test_log_prob_matches_torch_and_normalizes():
    ours, theirs = _pair()
    x = np.random.default_rng(2).standard_normal((5, IN))
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours.log_prob(xf), theirs.log_prob(xt)
    _close(out, ref)
    np.testing.assert_allclose(np.exp(out.detach().numpy()).sum(1), 1.0, rtol=1e-12)
    weights = np.random.default_rng(3).standard_normal((5, CLASSES))
    (out * fibril.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    _close(xf.grad, xt.grad)


@pytest.mark.parametrize("path", ["shortlist", "clusters", "mixed"])
def test_predict_matches_torch(path):
    """The head's bias picks the path: its best entry a shortlist class for every row, a
    cluster for every row, or either depending on the sign of the input's first feature."""
    ours, theirs = _pair()
    head_w = theirs.head.weight.detach().clone()
    head_b = torch.zeros(theirs.head_size, dtype=torch.float64)
    if path == "shortlist":
        head_b[0] = 50.0
    elif path == "clusters":
        head_b[CUTOFFS[0]:] = 50.0
    else:
        head_w[:, 0] = 0.0
        head_w[0, 0], head_w[CUTOFFS[0] + 1, 0] = 50.0, -50.0
    with torch.no_grad():
        theirs.head.weight.copy_(head_w)
        theirs.head.bias.copy_(head_b)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(4).standard_normal((8, IN))
    x[:4, 0], x[4:, 0] = 1.0, -1.0
    out, ref = ours.predict(fibril.tensor(x)), theirs.predict(torch.tensor(x))
    assert out.tolist() == ref.tolist()
    in_shortlist = [p < CUTOFFS[0] for p in out.tolist()]
    assert {"shortlist": all(in_shortlist), "clusters": not any(in_shortlist),
            "mixed": in_shortlist == [True] * 4 + [False] * 4}[path]


@pytest.mark.parametrize("cutoffs", [[], [4, 4], [9, 4], [0, 5], [5, 20], [2.5]])
def test_bad_cutoffs_raise_as_torch(cutoffs):
    with pytest.raises(ValueError) as theirs:
        torch.nn.AdaptiveLogSoftmaxWithLoss(IN, CLASSES, cutoffs)
    with pytest.raises(ValueError) as ours:
        AdaptiveLogSoftmaxWithLoss(IN, CLASSES, cutoffs)
    assert str(ours.value) == str(theirs.value)


def test_bad_inputs_raise_as_torch():
    ours, theirs = _pair()
    x = np.zeros((3, IN))
    cases = [(x, [0, 1]), (x[None], [0, 1, 2]), (x[0], [1]), (x, [[0, 1, 2]]), (x, [0, 1, 20]), (x, [-1, 1, 2])]
    for inputs, targets in cases:
        with pytest.raises(RuntimeError) as expected:
            theirs(torch.tensor(inputs), torch.tensor(targets))
        with pytest.raises(RuntimeError) as got:
            ours(fibril.tensor(inputs), fibril.tensor(targets))
        assert str(got.value).split(",")[0] == str(expected.value).split(",")[0]
