"""The desk's queue: requests filtered by status, topic, assignee and a search, newest
activity first, a page at a time, with how many match each status."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select

from licensor.models import Account, Author, RequestStatus, SupportMessage, SupportRequest, Topic
from licensor.store.orders import order_number_key
from licensor.units import Service

PAGE_SIZE = 25
ASSIGNEES = ("all", "mine", "unassigned")


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    topic: str = ""
    assignee: str = "all"
    q: str = ""
    page: int = 1


@dataclass(frozen=True)
class QueuePage:
    requests: list[SupportRequest]
    counts: dict[str, int]
    total: int
    page: int
    pages: int


class Queue(Service):
    """The queue of support requests, bound to one unit of work."""

    def queue(self, agent: Account, wanted: QueueFilter) -> QueuePage:
        """Requests matching the filters, newest activity first, a page at a time, and
        how many match each status (the other filters applied)."""
        narrowed = self._conditions(agent, wanted)
        query = select(SupportRequest).where(*narrowed)
        counted = (
            select(SupportRequest.status, func.count(SupportRequest.id))
            .where(*narrowed)
            .group_by(SupportRequest.status)
        )
        counts = {status.value: 0 for status in RequestStatus}
        for status, count in self.session.execute(counted):
            counts[status] = count
        if wanted.status in counts:
            query = query.where(SupportRequest.status == RequestStatus(wanted.status))
        total = counts[wanted.status] if wanted.status in counts else sum(counts.values())
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, wanted.page), pages)
        rows = self.session.scalars(
            query.order_by(SupportRequest.updated_at.desc(), SupportRequest.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        return QueuePage(list(rows), counts, total, page, pages)

    def _conditions(self, agent: Account, wanted: QueueFilter) -> list[ColumnElement[bool]]:
        """Every filter but the status (the counts are per status)."""
        conditions: list[ColumnElement[bool]] = []
        if wanted.topic in {topic.value for topic in Topic}:
            conditions.append(SupportRequest.topic == Topic(wanted.topic))
        if wanted.assignee == "mine":
            conditions.append(SupportRequest.assignee_id == agent.id)
        elif wanted.assignee == "unassigned":
            conditions.append(SupportRequest.assignee_id.is_(None))
        text = wanted.q.strip()
        if text:
            pattern = f"%{_escape_like(text)}%"
            in_messages = select(SupportMessage.request_id).where(
                SupportMessage.body.ilike(pattern, escape="\\"),
                SupportMessage.author == Author.CUSTOMER,
            )
            conditions.append(
                or_(
                    SupportRequest.number == text.upper(),
                    SupportRequest.customer_email.ilike(pattern, escape="\\"),
                    SupportRequest.customer_name.ilike(pattern, escape="\\"),
                    SupportRequest.subject.ilike(pattern, escape="\\"),
                    func.upper(SupportRequest.order_number).like(
                        f"%{_escape_like(text.upper())}%", escape="\\"
                    ),
                    func.upper(SupportRequest.order_number) == order_number_key(text),
                    SupportRequest.id.in_(in_messages),
                )
            )
        return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
