"""Writes the `.keras` fixture files of tests/test_keras_file_fixtures.py and their expected outputs.

Run with the keras_ae whose files the fixtures should pin (they were written by the main
branch of 2026-12-05), from the repository root:

    python -m tests.scripts.keras_fixtures tests/fixtures/keras_files

Each family of tests/scripts/families.py (one of each kind) is trained for one epoch on
64 digits, saved, and a deterministic call of its public API (reconstructions, codes,
likelihoods, seeded samples) is recorded in ``expected.npz``: a later keras_ae must load
the file and give the same numbers.
"""

import sys
from pathlib import Path

import keras
import numpy as np

# One model of each kind of network and training step (FAMILIES names).
FIXTURES = ("dense_ae", "conv_dae", "contractive_ae", "sparse_ae", "vae_iaf", "vqvae", "gan", "pixelcnn",
            "realnvp", "diffusion")


def outputs(name: str, model, x: np.ndarray) -> dict[str, np.ndarray]:
    """The deterministic public calls recorded for fixture ``name`` (seeded samplers included)."""
    if name in ("dense_ae", "conv_dae", "contractive_ae", "sparse_ae"):
        return {"reconstruction": model.predict(x, verbose=0), "codes": model.codes(x)}
    if name == "vae_iaf":
        return {"codes": model.codes(x), "samples": model.sample(4, seed=1)}
    binary = (x > 0.5).astype("float32")  # the Bernoulli families score binary images
    if name == "vqvae":
        return {"codes": model.codes(x), "log_likelihood": model.log_likelihood(binary),
                "samples": model.sample(2, seed=1)}
    if name == "gan":  # generate pins the weights; sample also the seed convention (stateless_pair)
        z = np.linspace(-2, 2, 4 * model.latent_dim, dtype=np.float32).reshape(4, model.latent_dim)
        return {"samples": model.sample(4, seed=1), "generated": model.generate(z)}
    if name == "pixelcnn":
        return {"log_likelihood": model.log_likelihood(binary), "samples": model.sample(2, seed=1)}
    if name == "realnvp":
        return {"log_likelihood": model.log_likelihood(x), "samples": model.sample(2, seed=1)}
    if name == "diffusion":
        return {"samples": model.sample(2, steps=3, seed=1)}
    raise KeyError(name)


def write(out_dir: Path) -> None:
    """Trains, saves and records every fixture into ``out_dir``."""
    from tests.scripts.families import FAMILIES

    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name in FIXTURES:
        build, data, compile_kwargs = FAMILIES[name]
        keras.utils.set_random_seed(0)
        model, x = build(), data()
        model.compile(**compile_kwargs())
        model.fit(x, epochs=1, batch_size=32, verbose=0)
        model.save(out_dir / f"{name}.keras")
        for key, value in outputs(name, model, x).items():
            expected[f"{name}/{key}"] = np.asarray(value)
        print(name, (out_dir / f"{name}.keras").stat().st_size, "bytes")
    np.savez_compressed(out_dir / "expected.npz", **expected)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
