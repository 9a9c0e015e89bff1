"""fibril.utils.data.StackDataset against torch.utils.data.StackDataset, and DataLoader fetching
batches through a dataset's __getitems__ as torch's does."""

import pytest

import fibril
from fibril.data import StackDataset as DataStackDataset
from fibril.utils.data import DataLoader, StackDataset, TensorDataset

try:
    import torch
except ImportError:
    torch = None


def test_same_class_in_both_packages():
    assert StackDataset is DataStackDataset


def test_tuple_and_dict_samples():
    a = TensorDataset(fibril.arange(4))
    b = [10, 20, 30, 40]
    s = StackDataset(a, b)
    assert len(s) == 4 and isinstance(s.datasets, tuple)
    first, second = s[2]
    assert first[0].item() == 2 and second == 30
    d = StackDataset(x=a, y=b)
    assert len(d) == 4 and d[1]["y"] == 20 and d[1]["x"][0].item() == 1 and list(d[0]) == ["x", "y"]
    batch = s.__getitems__([0, 3])
    assert [item[1] for item in batch] == [10, 40]
    assert [item["y"] for item in d.__getitems__([3, 1])] == [40, 20]


def test_nested_getitems_used_and_checked():
    class Batched(list):
        def __getitems__(self, indices):
            return [self[i] * 100 for i in indices]

    s = StackDataset(Batched([1, 2, 3]), [4, 5, 6])
    assert s.__getitems__([0, 2]) == [(100, 4), (300, 6)]

    class Short(list):
        def __getitems__(self, indices):
            return [0]

    with pytest.raises(ValueError, match="Nested dataset's output size mismatch"):
        StackDataset(Short([1, 2, 3])).__getitems__([0, 1])


def test_dataloader_batches():
    s = StackDataset(TensorDataset(fibril.arange(6.0)), TensorDataset(fibril.arange(6) * 2))
    batches = list(DataLoader(s, batch_size=4))
    assert len(batches) == 2
    (x,), (y,) = batches[0]
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0] and y.tolist() == [0, 2, 4, 6]


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("args,kwargs", [(([1, 2], [1, 2, 3]), {}), ((), {}), (([1],), {"y": [2]}),
                                         ((), {"x": [1, 2], "y": [1]})])
def test_errors_as_torch(args, kwargs):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.StackDataset(*args, **kwargs)
    with pytest.raises(ValueError) as ours:
        StackDataset(*args, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_dataloader_fetches_batches_through_getitems():
    class Batched(fibril.utils.data.Dataset):
        def __init__(self):
            self.calls = []

        def __len__(self):
            return 6

        def __getitem__(self, i):
            raise AssertionError("the loader should call __getitems__")

        def __getitems__(self, indices):
            self.calls.append(list(indices))
            return [fibril.tensor([float(i)]) for i in indices]

    data = Batched()
    batches = list(fibril.utils.data.DataLoader(data, batch_size=4))
    assert data.calls == [[0, 1, 2, 3], [4, 5]]
    assert [b.shape[0] for b in batches] == [4, 2]
