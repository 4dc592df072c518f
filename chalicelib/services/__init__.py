"""Use cases. They know nothing of HTTP: they take ``Deps`` and validated input,
apply domain rules, call repositories and raise ``chalicelib.errors`` exceptions."""
