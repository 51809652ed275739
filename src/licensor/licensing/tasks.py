"""Licensing's background work: a card batch issued by the worker (``licensing.issue_batch``,
queued by the console's "Issue codes"), a chunk a short transaction until it is whole.

Safe to run twice and to run after a crash: each chunk counts the codes the batch holds under
its row's lock (``card_batches.issue_chunk``), so a rerun goes on from there and two runs at
once never add more than the batch's count.
"""

from __future__ import annotations

from typing import Any

from licensor import jobs
from licensor.errors import BatchUnknown, JobFailed
from licensor.licensing.card_batches import CHUNK, ISSUE_JOB, issue_chunk
from licensor.logging import log


@jobs.handler(ISSUE_JOB, max_attempts=10)
def issue_batch(context: jobs.JobContext, payload: dict[str, Any]) -> None:
    """Issue the batch's missing codes, a chunk at a time."""
    batch_id = int(payload["batch_id"])
    size = int(payload.get("chunk_size") or CHUNK)
    issued = 0
    try:
        while added := issue_chunk(
            context.database,
            context.keyring,
            context.settings,
            batch_id,
            size=size,
            now=context.now(),
            actor="worker",
        ):
            issued += added
    except BatchUnknown as error:  # discarded meanwhile: nothing left to do
        raise JobFailed(str(error)) from None
    log.info("licensing.batch_filled", batch=batch_id, issued=issued)
