"""lessons_lib: the helper library behind the deep-learning course's notebooks.

One module per concept: ``config`` (profiles), ``device`` (device, seeding, provenance),
``data`` (MNIST, sequences, device-resident loaders), ``models`` (the chapters' networks),
``training`` (the loop, its fast GPU path, checkpoints), ``analysis`` (layer tables and receptive
fields, PCA, plots, predictions), ``page`` (numbers, tables and code on a chapter's page),
``experiments`` (each chapter's settings and runs), ``results`` (full-scale results) and
``reproduce`` (the command that produces them).
"""
import time as _time

__version__ = "0.2.0"
_IMPORTED_AT = _time.time()  # the page's run record measures its wall time from here
