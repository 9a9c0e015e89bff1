"""Forward+backward calls for the bench files, the same for fibril and torch: each call makes
a fresh leaf of the input, runs forward, backpropagates a fixed output gradient and returns
the input's gradient, so the time is what one training step spends in the op."""


def fwd_bwd(fn):
    """fn(x, *rest) -> output; returns op(x, g, *rest) -> x's gradient."""

    def op(x, g, *rest):
        leaf = x.detach().requires_grad_()
        fn(leaf, *rest).backward(g)
        return leaf.grad

    return op


def fwd_bwd_scalar(fn):
    """For a loss: fn(x, *rest) -> a 0-d loss; returns op(x, *rest) -> x's gradient."""

    def op(x, *rest):
        leaf = x.detach().requires_grad_()
        fn(leaf, *rest).backward()
        return leaf.grad

    return op
