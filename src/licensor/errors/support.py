"""What support refuses: a code sent elsewhere than to an address of record, an order or
license attached to the wrong account, the form's uploads, a screenshot that cannot be
read (licensor/support)."""

from __future__ import annotations

from licensor.errors.base import LicensorError, NotFound


class DestinationNotOfRecord(LicensorError):
    """A code goes only to an email of record (the request's, the account's, the order's);
    anything else in the form, a typed address included, is this."""

    status = 422
    code = "destination_not_of_record"
    title = "An activation code can be sent only to an email address of record"


class RequestHasNoAccount(LicensorError):
    status = 409
    code = "request_has_no_account"
    title = (
        "No account has this request's email address; ask the customer to create one "
        "with it, then attach"
    )


class OrderLinkedElsewhere(LicensorError):
    status = 409
    code = "order_linked_elsewhere"
    title = "This order belongs to another account. It was not moved."


class RequestLinkUnknown(NotFound):
    """One answer for a forged, mistyped or unknown follow link of a support request."""

    code = "support_request_unknown"
    title = "This support request link is not valid"


class UploadTooLarge(LicensorError):
    """The support form's body, told by its Content-Length before anything is read."""

    status = 413
    code = "upload_too_large"
    title = "The files are too large together: attach at most 3 screenshots of 5 MB each."


class LengthRequired(LicensorError):
    status = 411
    code = "length_required"
    title = "Send the form again from the support page."


# Screenshots refused by the support form (support/attachments.py): the form shows the
# title beside the file field.
class AttachmentRefused(LicensorError):
    status = 422
    code = "attachment_refused"
    title = "This file cannot be attached"


class AttachmentTooLarge(AttachmentRefused):
    status = 413
    code = "attachment_too_large"
    title = "This file is larger than 5 MB: attach a smaller screenshot."


class AttachmentType(AttachmentRefused):
    code = "attachment_type"
    title = "This file is not a PNG, JPEG or WebP image."


class AttachmentPixels(AttachmentRefused):
    code = "attachment_pixels"
    title = (
        "This image is too large (more than 25 megapixels): attach a screenshot of the window only."
    )


class AttachmentDamaged(AttachmentRefused):
    code = "attachment_damaged"
    title = "This image is damaged or incomplete and cannot be read."


class AttachmentPolyglot(AttachmentRefused):
    code = "attachment_polyglot"
    title = (
        "This file has other data after the image. Save the screenshot again and attach "
        "the new file."
    )


class TooManyAttachments(AttachmentRefused):
    code = "too_many_attachments"
    title = "Attach at most 3 screenshots."


# Reading the license key from a screenshot (support/ocr/), in the worker.
class ScreenshotUnreadable(LicensorError):
    status = 422
    code = "screenshot_unreadable"
    title = "This file is not an image that can be read"


class OcrUnavailable(LicensorError):
    status = 503
    code = "ocr_unavailable"
    title = "The screenshot reader (Tesseract) is not available"
