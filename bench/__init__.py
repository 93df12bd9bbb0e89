"""prl's training-step benchmark, kept outside the library: ``python -m bench`` from the
repository root (see ``bench/__main__.py``).  Nothing in ``prl`` imports it."""
