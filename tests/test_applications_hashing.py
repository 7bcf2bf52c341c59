"""Semantic hashing: bit packing, popcount, Hamming search, the binary code layer, the model."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.applications.hashing import (
    HammingIndex,
    PCASignHasher,
    RandomProjectionHasher,
    pack_bits,
    popcount,
    popcount_table,
    retrieval_metrics,
    unpack_bits,
)
from keras_ae.errors import InputValidationError
from keras_ae.layers.binary_code import BinaryCode
from keras_ae.models.hashing import build_hashing_ae


def brute_force(db_bits: np.ndarray, query_bits: np.ndarray, k: int):
    d = (db_bits[None, :, :] != query_bits[:, None, :]).sum(axis=2)
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(d, ids, axis=1)


@pytest.mark.parametrize("n_bits", [5, 12, 32, 40, 64, 128])
def test_search_matches_brute_force(n_bits):
    rng = np.random.default_rng(n_bits)
    # Few distinct codes, so there are many ties: they must be broken by id.
    pool = rng.integers(0, 2, (30, n_bits))
    db = pool[rng.integers(0, 30, 500)]
    queries = rng.integers(0, 2, (7, n_bits))
    index = HammingIndex(n_bits).add(pack_bits(db[:200])).add(pack_bits(db[200:]))
    for k in (1, 17, 500):
        ids, dists = index.search(pack_bits(queries), k=k)
        want_ids, want_d = brute_force(db, queries, k)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(dists, want_d)
    one_ids, one_d = index.search(pack_bits(queries)[0], k=5)  # a single query gives 1-D results
    np.testing.assert_array_equal(one_ids, want_ids[0, :5])
    bool_ids, _ = index.search(queries.astype(bool), k=5)
    np.testing.assert_array_equal(bool_ids, want_ids[:, :5])


def test_pack_unpack_and_popcount():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (9, 21))
    packed = pack_bits(bits)
    assert packed.shape == (9, 3) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_bits(packed, 21), bits)
    words = rng.integers(0, 2**63, 1000, dtype=np.uint64)
    expected = np.array([bin(int(w)).count("1") for w in words])
    np.testing.assert_array_equal(popcount(words), expected)
    np.testing.assert_array_equal(popcount_table(words), expected)


def test_index_errors():
    index = HammingIndex(12)
    with pytest.raises(InputValidationError, match="empty"):
        index.search(np.zeros((1, 2), np.uint8), k=1)
    index.add(pack_bits(np.zeros((3, 12))))
    with pytest.raises(InputValidationError, match="k must be"):
        index.search(np.zeros((1, 2), np.uint8), k=4)
    with pytest.raises(InputValidationError, match="12-bit"):
        index.search(np.zeros((1, 4), np.uint8), k=1)  # a 32-bit query
    with pytest.raises(InputValidationError, match="beyond bit 12"):
        index.search(pack_bits(np.ones((1, 16))), k=1)  # 16 bits packed into 2 bytes
    with pytest.raises(InputValidationError, match="16-bit boolean"):
        index.search(np.ones((1, 16), bool), k=1)
    with pytest.raises(InputValidationError, match="dtype"):
        index.add(np.zeros((1, 2), np.int32))


def test_retrieval_metrics_by_hand():
    # Query 0000 against four codes; distances 0, 1, 2, 4 -> ranking 0, 1, 2, 3.
    db = pack_bits(np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]))
    query = pack_bits(np.zeros((1, 4)))
    # Relevant items at ranks 1 and 3: AP = (1/1 + 2/3) / 2; precision@2 = 1/2.
    got = retrieval_metrics(query, [5], db, [5, 1, 5, 2], n_bits=4, k=2)
    assert got["precision@2"] == pytest.approx(0.5)
    assert got["mAP"] == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(InputValidationError, match="k must be"):
        retrieval_metrics(query, [5], db, [5, 1, 5, 2], n_bits=4, k=5)


def test_binary_code_layer():
    logits = tf.constant([[-3.0, -0.2, 0.1, 2.0]])
    np.testing.assert_array_equal(BinaryCode()(logits).numpy(), [[0, 0, 1, 1]])
    layer = BinaryCode("straight_through")
    with tf.GradientTape() as tape:
        tape.watch(logits)
        out = layer(logits, training=True)
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 1, 1]])  # hard bits forward
    s = tf.sigmoid(logits).numpy()
    np.testing.assert_allclose(tape.gradient(out, logits).numpy(), s * (1 - s), rtol=1e-5)  # sigmoid backward
    noisy = BinaryCode("noise", noise_std=4.0, seed=1)(tf.zeros((2000, 1)), training=True).numpy()
    assert 0.0 < noisy.min() and noisy.max() < 1.0 and abs(noisy.mean() - 0.5) < 0.05


@pytest.mark.slow
def test_hashing_ae_beats_lsh_on_digits(digits):
    (x_train, y_train), (x_test, y_test) = digits
    model = build_hashing_ae(x_train.shape[1:], n_bits=16, hidden=(128,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x_train, epochs=40, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    codes = model.encode(x_test)
    assert set(np.unique(codes)) <= {0.0, 1.0}
    ae = retrieval_metrics(model.hash(x_test), y_test, model.hash(x_train), y_train, 16, k=10)
    lsh = RandomProjectionHasher(16).fit(x_train)
    baseline = retrieval_metrics(lsh.hash(x_test), y_test, lsh.hash(x_train), y_train, 16, k=10)
    pca = PCASignHasher(16).fit(x_train)
    assert pca.hash(x_test).shape == (len(x_test), 2)
    assert ae["precision@10"] > baseline["precision@10"] > 0.3


@pytest.mark.slow
def test_hashing_ae_keras_round_trip(tmp_path, digits):
    (x_train, _), (x_test, _) = digits
    model = build_hashing_ae(x_train.shape[1:], n_bits=20, hidden=(32,), binarization="straight_through")
    model.compile()
    model.fit(x_train[:256], epochs=1, verbose=0)
    np.testing.assert_array_equal(model.hash_tensor(x_test[:50]).numpy(), model.hash(x_test[:50]))
    path = tmp_path / "hashing.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x_test[:50])
    np.save(tmp_path / "codes.npy", model.hash(x_test[:50]))
    script = textwrap.dedent(f"""
        import numpy as np, keras
        import keras_ae.applications
        m = keras.saving.load_model({str(path)!r})
        assert type(m).__name__ == "SemanticHashingAE", type(m)
        assert m.n_bits == 20 and m.encoder.name == "encoder" and m.decoder.name == "decoder"
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.testing.assert_array_equal(m.hash(x), np.load({str(tmp_path / 'codes.npy')!r}))
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_conv_hashing_ae_and_bad_arguments():
    model = build_hashing_ae((8, 8, 1), n_bits=12, architecture="conv", filters=(4,))
    assert model.encoder.output_shape == (None, 12) and model.decoder.output_shape == (None, 8, 8, 1)
    assert model.hash(np.random.default_rng(0).random((3, 8, 8, 1))).shape == (3, 2)
    with pytest.raises(Exception, match="binarization"):
        build_hashing_ae((8, 8, 1), binarization="sign")
    with pytest.raises(InputValidationError, match="noise_std"):
        BinaryCode(noise_std=-1.0)
