"""The pytrees of the transforms, as torch.utils._pytree: tuples (namedtuples too), lists and
dicts are nodes, anything else (None included) is a leaf. A spec is the structure without the
leaves, comparable with ==."""

_LEAF = "*"


def tree_flatten(tree):
    """(the leaves of tree in order, its spec); dicts in insertion order, as torch."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    if isinstance(tree, (tuple, list)):
        return type(tree), None, tuple(_flatten(child, leaves) for child in tree)
    if isinstance(tree, dict):
        return type(tree), tuple(tree), tuple(_flatten(child, leaves) for child in tree.values())
    leaves.append(tree)
    return _LEAF


def tree_unflatten(leaves, spec):
    """The tree of structure spec with the given leaves (in tree_flatten's order)."""
    leaves = iter(leaves)
    return _unflatten(leaves, spec)


def _unflatten(leaves, spec):
    if spec == _LEAF:
        return next(leaves)
    node_type, keys, children = spec
    values = [_unflatten(leaves, child) for child in children]
    if keys is not None:
        return node_type(zip(keys, values))
    if node_type is not tuple and issubclass(node_type, tuple):  # a namedtuple takes its fields as arguments
        return node_type(*values)
    return node_type(values)


def num_leaves(spec):
    if spec == _LEAF:
        return 1
    return sum(num_leaves(child) for child in spec[2])


def broadcast_to_and_flatten(prefix, spec):
    """prefix, a tree whose leaves each stand for the whole subtree at that place in spec (as
    vmap's in_dims and out_dims), given one value per leaf of spec; None where its structure
    does not match spec's."""
    if isinstance(prefix, (tuple, list, dict)):
        if spec == _LEAF:
            return None
        node_type, keys, children = spec
        if type(prefix) is not node_type or len(prefix) != len(children):
            return None
        if keys is not None:
            if set(prefix) != set(keys):
                return None
            prefix = [prefix[key] for key in keys]
        flat = []
        for child_prefix, child in zip(prefix, children):
            values = broadcast_to_and_flatten(child_prefix, child)
            if values is None:
                return None
            flat.extend(values)
        return flat
    return [prefix] * num_leaves(spec)


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(leaf) for leaf in leaves], spec)


def spec_repr(spec):
    """spec as torch prints a TreeSpec: TreeSpec(tuple, None, [*, *])."""
    if spec == _LEAF:
        return spec
    node_type, keys, children = spec
    keys = None if keys is None else list(keys)
    return f"TreeSpec({node_type.__name__}, {keys}, [{', '.join(spec_repr(child) for child in children)}])"
