"""ticktape recorder: the live daemon, venue protocol rules and the journal."""
