"""Webhooks to the vendor's own systems, to the Standard Webhooks specification
(docs/webhooks.md).

``events.emit`` writes one delivery per endpoint that takes the event, in the transaction
of the change that caused it: a rolled-back change sends nothing, a committed one is never
lost. ``licensor worker`` delivers them (``delivery.py``), signed, retried with backoff
under a lease like the mail outbox. ``targets.py`` keeps them off the vendor's own
network (SSRF) unless ``LICENSOR_WEBHOOKS_ALLOW_PRIVATE`` says otherwise.
"""
