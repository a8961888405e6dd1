"""HTTP plumbing shared by the registry clients, gitlab/ and pypi/: one copy of each part.

What both clients need: one configured httpx client (``_base``), the retry policy and its one
retry loop (``_retry``), capped reads, failure classes and TLS settings (``_http``), streamed
uploads whose bytes are checked against their sha256 while they go out, and the send loop that
asks the registry what it holds after an ambiguous failure (``_uploads``), streamed downloads
placed whole (``_save``), and the typed outcomes the publisher matches on (``_outcomes``).
Private: the clients re-export what their callers need.
"""
