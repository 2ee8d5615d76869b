"""The foundation every other part of mmrec builds on; it imports nothing of mmrec above it: the typed config
loader, atomic I/O, padded sequences, frequency bins, seed aggregation, modality tables, the Hub save / load mixin
and model cards."""
