"""Encrypted CNN inference from Python: the client's keys and images, the server's run on the
ciphertexts, the client's checked scores — equal (within 1e-3) to the compiled circuit in
plaintext with the same composite polynomials, and to a second client's. The model is
tiny and its ring insecure so the test runs in seconds; the bundled 128-bit models use the same
code (``hecnn.InferenceServer("bundled")``, measured in BENCHMARKS.md §7 through the CLI)."""

import numpy as np
import pytest

import hecnn


def toy_images(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(0.0, 1.0, size=(n, 1, 8, 8))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("inference")
    server = hecnn.InferenceServer.insecure_toy()
    server.publish(work / "published")
    return work, server


def test_scores_round_trip_and_match_a_second_client(served):
    work, server = served
    assert server.name == "toy"
    images = toy_images(6)  # 2 batches of 4
    # The toy's ring is insecure: refused unless the test opts in.
    with pytest.raises(hecnn.HecnnError, match="insecure parameters refused"):
        hecnn.InferenceClient(work / "published")
    client = hecnn.InferenceClient(work / "published", insecure_for_tests=True)
    assert client.encrypt(images, work / "upload") > 0
    assert server.infer(work / "upload", work / "result") == 2
    scores = client.decrypt_scores(work / "result")
    assert scores.shape == (6, 3) and np.isfinite(scores).all()
    assert np.abs(scores - server.simulate(images)).max() < 1e-3
    # Another client (other keys) encrypting the same images gets the same scores up to the noise.
    other = hecnn.InferenceClient(work / "published", insecure_for_tests=True)
    other.encrypt(images, work / "upload2")
    server.infer(work / "upload2", work / "result2")
    assert np.abs(other.decrypt_scores(work / "result2") - scores).max() < 1e-3
    # A result for other keys is refused by name.
    with pytest.raises(hecnn.HecnnError, match="not the result of this client's upload"):
        client.decrypt_scores(work / "result2")


def test_bad_images_and_foreign_uploads_are_refused(served):
    work, server = served
    client = hecnn.InferenceClient(work / "published", insecure_for_tests=True)
    with pytest.raises(ValueError, match="64 pixels each"):
        client.encrypt(np.zeros((2, 7, 7)), work / "bad")
    with pytest.raises(ValueError, match="finite pixels"):
        client.encrypt(np.full((1, 64), np.nan), work / "bad")
    with pytest.raises(hecnn.HecnnError, match="encrypted no images"):
        client.decrypt_scores(work / "result")
    with pytest.raises(hecnn.HecnnError):
        hecnn.InferenceClient(work / "nowhere", insecure_for_tests=True)
    # A training upload is no inference upload.
    rng = np.random.default_rng(1)
    trainer = hecnn.Client("training-2iter")
    trainer.encrypt(rng.uniform(size=(16, 5)), np.arange(16) % 2, work / "train-upload", classes=2)
    with pytest.raises(hecnn.HecnnError, match="invalid manifest"):
        server.infer(work / "train-upload", work / "never")
