"""A local stand-in for the Stripe endpoints the marketplace uses, so payments work without network access.

It is infrastructure, like the embedded PostgreSQL and Redis: a small stateful HTTP server speaking
Stripe's wire protocol (form-encoded requests, Bearer keys, Idempotency-Key, Stripe's error shapes,
signed webhooks), whose objects carry the fields of Stripe's own so the real `stripe` library parses
them. What it does not model is listed in the README.
"""
