"""An autoencoder on scikit-learn's digits: 64 pixels -> a code of CODE_SIZE numbers -> 64
pixels, compared with PCA keeping as many components. Targets (tested): test reconstruction
MSE below TARGET_MSE, and below PCA's with the same code size.

    python examples/autoencoder_digits.py
"""

import numpy as np

import fibril
from fibril import nn
from fibril.data import DataLoader, TensorDataset
from fibril.metrics import mean_squared_error
from fibril.train import fit, predict

import digits

CODE_SIZE = 8
TARGET_MSE = 0.02
BATCH = 32


def build(code=CODE_SIZE, hidden=128):
    encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, code))
    decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid())
    return nn.Sequential(encoder, decoder)


def pca_mse(x_train, x_test, k):
    """Test MSE of PCA with k components fitted on the training pixels (numpy SVD)."""
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    basis = vt[:k]
    recon = (x_test - mean) @ basis.T @ basis + mean
    return float(np.mean((recon - x_test) ** 2))


def main(seed=0, epochs=40, progress=True, callbacks=()):
    fibril.manual_seed(seed)
    train, test = digits.load(seed)
    x_train, x_test = train.tensors[0], test.tensors[0]
    train_loader = DataLoader(TensorDataset(x_train, x_train), batch_size=BATCH, shuffle=True,
                              generator=fibril.Generator().manual_seed(seed))
    test_loader = DataLoader(TensorDataset(x_test, x_test), batch_size=512)
    model = build()
    optimizer = fibril.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = fibril.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = fit(model, nn.MSELoss(), optimizer, train_loader, test_loader, epochs=epochs, scheduler=scheduler,
                  callbacks=callbacks, progress=progress)
    recon = predict(model, test_loader).numpy()
    return {"model": model, "history": history, "test_mse": mean_squared_error(x_test.numpy().ravel(), recon.ravel()),
            "pca_mse": pca_mse(x_train.numpy().astype(np.float64), x_test.numpy().astype(np.float64), CODE_SIZE)}


if __name__ == "__main__":
    result = main()
    print(f"autoencoder, code size {CODE_SIZE}: test MSE {result['test_mse']:.5f} (target < {TARGET_MSE}); "
          f"PCA with {CODE_SIZE} components: {result['pca_mse']:.5f}")
