"""The Upbit listing watcher (issue 19): its pure core here, the I/O beside it.

``titles`` reads a notice title (which coins, which markets, is it a listing),
``notices`` parses the announcements and ``/v1/market/all`` bodies, ``detector`` is the
state machine that turns successive responses into new listings. None of them reads a
clock or opens a socket: the watcher passes each response's receive time in.
"""
