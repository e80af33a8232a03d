"""Projections of the journal: decoders, order books, market state, features, checkpoints.

Everything here is a pure, deterministic fold over ``recorder.journal.Record``:
no sockets, files, clocks, environment or randomness. Checkpoints are bytes made and
restored here and stored by ``recorder.journal.checkpoints``. What state/ raises is
drawn in ``state.errors`` (a venue's bad frame is an event, never an exception).

    from state.projector import Projector
"""
