"""Uploads are cut off at MAX_UPLOAD_BYTES while they arrive: Django would otherwise write a
file of any size to disk before a form could look at it."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class CappedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: stops a file past the cap and marks the request, so the
    form can say so (request.upload_too_big) instead of seeing no file."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > settings.MAX_UPLOAD_BYTES:
            self.request.upload_too_big = True  # type: ignore[union-attr]
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler keeps the file
