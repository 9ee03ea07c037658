"""Use cases, in plain classes: what Paimon does, apart from HTTP and from storage."""
