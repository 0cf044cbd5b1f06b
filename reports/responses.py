"""The answer that carries a report's file, for the page and the API alike."""

from django.http import FileResponse

from reports.services import Download


def file_response(found: Download, sha256: str) -> FileResponse:
    """The file as an attachment, with its length and the SHA-256 it was checked against."""
    response = FileResponse(found.file, as_attachment=True, filename=found.filename,
                            content_type=found.content_type)  # fmt: skip
    response["Content-Length"] = str(found.size)
    response["X-Content-SHA256"] = sha256
    return response
