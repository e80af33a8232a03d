"""Projections of the journal: decoders, order books, market state, features, checkpoints.

Everything here is a pure, deterministic fold over ``recorder.journal.record.Record``:
no sockets, files, clocks, environment or randomness (``checkpoint.py`` is the one
module that touches LMDB, and only when the caller asks it to).

    from state.projector import Projector
"""
