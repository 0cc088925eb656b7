"""Getting documents to clients after commit: e-mail (email.py)."""
