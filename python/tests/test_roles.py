"""The Python roles against the plaintext reference and against the CLI's files.

Run after ``pip install ./python`` (the README's install command): ``pytest python/tests``.
The CLI binary is looked for in target/{debug,release} (``cargo test --workspace`` builds it)
or built with cargo.
"""

import os
import pathlib
import subprocess

import numpy as np
import pytest

import hecnn

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASSES = 4


def cli() -> str:
    for profile in ("debug", "release"):
        exe = ROOT / "target" / profile / "hecnn"
        if exe.exists():
            return str(exe)
    subprocess.run(["cargo", "build", "-q", "-p", "hecnn"], cwd=ROOT, check=True)
    return str(ROOT / "target" / "debug" / "hecnn")


def run(*args: str) -> str:
    r = subprocess.run([cli(), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def data(n=64, d=12, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 3.0, size=(n, d))
    y = np.arange(n) % CLASSES
    x[np.arange(n), y] += 2.0  # a learnable signal
    return x, y


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One client's upload and the Python server's model, shared by the tests."""
    work = tmp_path_factory.mktemp("job")
    x, y = data()
    client = hecnn.Client("training-2iter")
    assert client.encrypt(x, y, work / "upload", classes=CLASSES) > 0
    hecnn.Server(work / "upload").train(2, work / "model")
    return work, client, x, y


def test_round_trip_equals_the_reference(job):
    work, client, x, y = job
    w, iterations = client.decrypt_model(work / "model", private=True)
    ref = hecnn.reference_train(x, y, 2, classes=CLASSES)
    assert iterations == 2 and w.shape == (CLASSES, x.shape[1] + 1)
    err = np.abs(w - ref).max()
    assert err < 1e-4, err
    assert np.abs(ref - ref[0, 0]).max() > 1e-3, "the model trained"
    # Released: flooded with noise of σ ≤ 1/64 (30-bit statistical security) and rounded to a
    # power-of-two grid at or below σ; within 6σ of the reference, never exactly it.
    released, _ = client.decrypt_model(work / "model")
    assert 0 < np.abs(released - ref).max() < 6 / 64
    assert np.all(np.mod(released * 2**20, 1) == 0)


def test_python_server_equals_the_cli_server(job):
    work, _, _, _ = job
    run("train-server", "--upload", str(work / "upload"), "--out", str(work / "model-cli"), "--iterations", "2")
    names = sorted(os.listdir(work / "model"))
    assert names == sorted(os.listdir(work / "model-cli"))
    for name in names:
        assert (work / "model" / name).read_bytes() == (work / "model-cli" / name).read_bytes(), name


def test_python_decrypts_the_cli_model_and_the_cli_trains_on_python_files(job):
    work, client, x, y = job
    out = work / "model-cli2"
    run("train-server", "--upload", str(work / "upload"), "--out", str(out), "--iterations", "2")
    w, _ = client.decrypt_model(out, private=True)
    assert np.abs(w - hecnn.reference_train(x, y, 2, classes=CLASSES)).max() < 1e-4


def test_the_python_server_trains_on_a_cli_upload(tmp_path):
    run("keygen", "--out", str(tmp_path / "keys"), "--preset", "training-2iter")
    run("encrypt", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "upload"), "--samples", "128")
    hecnn.Server(tmp_path / "upload").train(2, tmp_path / "model")
    out = run(
        "decrypt-model", "--keys", str(tmp_path / "keys"), "--model", str(tmp_path / "model"),
        "--out", str(tmp_path / "w.json"), "--private",
    )
    assert "checked against the plaintext reference" in out


def test_save_and_load_keep_the_secret_and_the_job(job, tmp_path):
    work, client, x, y = job
    client.save(tmp_path / "client")
    assert (tmp_path / "client" / "secret.key").stat().st_mode & 0o077 == 0
    again = hecnn.Client.load(tmp_path / "client")
    assert again.key_set == client.key_set
    w, _ = again.decrypt_model(work / "model", private=True)
    assert np.abs(w - hecnn.reference_train(x, y, 2, classes=CLASSES)).max() < 1e-4


def test_bad_input_raises_the_right_exception(job, tmp_path):
    work, client, x, y = job
    fresh = hecnn.Client("training-2iter")
    bad = x.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="row 5, column 3 is NaN"):
        fresh.encrypt(bad, y, tmp_path / "u1", classes=CLASSES)
    with pytest.raises(ValueError, match="label 7 outside 0..4"):
        fresh.encrypt(x, np.where(y == 0, 7, y), tmp_path / "u2", classes=CLASSES)
    with pytest.raises(ValueError, match="2-D array"):
        fresh.encrypt(x[0], y, tmp_path / "u3", classes=CLASSES)
    with pytest.raises(ValueError, match="unknown-preset"):
        hecnn.Client("unknown-preset")
    with pytest.raises(hecnn.HecnnError, match="encrypted no job"):
        fresh.decrypt_model(work / "model")
    # Another client's model: bound to another key set.
    fresh.encrypt(x, y, tmp_path / "u4", classes=CLASSES)
    with pytest.raises(hecnn.HecnnError, match="key set"):
        fresh.decrypt_model(work / "model")
    # A tampered ciphertext in an upload is refused by name.
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for f in os.listdir(work / "upload"):
        b = bytearray((work / "upload" / f).read_bytes())
        if f == "x-0-0.ct":
            b[len(b) // 2] ^= 0x5A
        (tampered / f).write_bytes(bytes(b))
    with pytest.raises(hecnn.HecnnError, match="x-0-0.ct"):
        hecnn.Server(tampered).train(2, tmp_path / "m")
    with pytest.raises(ValueError, match="iterations 0"):
        hecnn.Server(work / "upload").train(0, tmp_path / "m2")
