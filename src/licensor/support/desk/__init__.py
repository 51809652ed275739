"""The agent desk's rules, by noun: the queue (``queue.py``); one request as the desk reads
and works it (``requests.py``), with its thread (``thread.py``); one lookup across five
identifiers and the license and code details (``lookup.py``); and the actions from a
request: replies and notes (``replies.py``), sending a code, releasing seats, blocking
and replacing a code (``recovery.py``), attaching an order or a code to the customer's
account (``attaching.py``) and the questions that may wait on (``approvals.py``).

The pages are ``support/views/desk_*.py``; each service is had from the unit of work
(``unit.desk``, ``unit.desk_queue``, ``unit.desk_lookup``, ``unit.desk_replies``,
``unit.recovery``, ``unit.attaching``, ``unit.approvals``).
"""
