"""The effective book: a book dataset's records plus the adjustments written to it (SPEC 3.3)."""
