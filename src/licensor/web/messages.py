"""What the services' field problems (``FormInvalid`` keys) say, in English; pages show
them translated (``N_`` marks them for the catalog), the CLI as they are."""

from __future__ import annotations

from licensor.web.i18n import N_

FIELD_MESSAGES = {
    "email_invalid": N_("Enter an email address like name@example.com."),
    "email_taken": N_("This email address cannot be used."),
    "too_short": N_("This password is too short for your account: use at least 15 characters."),
    "too_short_with_two_factor": N_("This password is too short: use at least 8 characters."),
    "too_common": N_(
        "This password is on a list of common passwords that attackers try first; choose another."
    ),
    "too_long": N_("Use at most 1024 characters."),
    "same_as_email": N_("Do not use your email address as your password."),
    "password_wrong": N_("This password is not correct."),
    "two_factor_required_for_role": N_("Two-factor sign-in is required for staff accounts."),
    "code_wrong": N_("This code is not correct; enter the current 6-digit code."),
    "second_factor_wrong": N_(
        "This code is not correct; enter the current 6-digit code from your authenticator "
        "app, or one of your recovery codes."
    ),
    "required": N_("This field is required."),
    "slug_invalid": N_("Use 3 to 60 lower-case letters, digits or hyphens."),
    "url_invalid": N_("Enter an address that starts with https://."),
    "quantity_range": N_("Order 1 to 100 codes at a time."),
    "codes_range": N_("Give 1 to 100 activation codes."),
    "date_invalid": N_("Enter a date such as 12/05/2026 (month/day/year) or 2026-12-05."),
    "date_future": N_("This date is in the future."),
    "range_inverted": N_("Choose an end date on or after the start date."),
    "range_too_long": N_("Choose a range of at most 366 days."),
    "where_required": N_(
        "Choose where you bought the code, or “I don't know” if you are not sure."
    ),
    "order_number_invalid": N_(
        "Enter the order number as the order confirmation email shows it, e.g. ORD-7K3M-9QXT."
    ),
    "name_too_long": N_("Use at most 200 characters."),
    # store checkout and the test provider's card form
    "store_quantity_range": N_("Choose 1 to 10 codes."),
    "card_number_invalid": N_("Enter the 16 digits of the card number."),
    "card_not_a_test_card": N_(
        "This is test mode: use 4242 4242 4242 4242 to pay, 4000 0000 0000 0002 "
        "to see a declined card, or 4000 0000 0000 0341 to pay now and have renewals "
        "declined."
    ),
    "card_expiry_invalid": N_("Enter the expiry date as month/year, e.g. 12/30."),
    "card_expired": N_("This card has expired; use an expiry date in the future."),
    "card_cvc_invalid": N_("Enter the 3 or 4 digits of the security code."),
}


def field_message(key: str) -> str:
    """The English message for a problem key (an unknown key is shown as it is)."""
    return FIELD_MESSAGES.get(key, key)
