"""Remote control: the gateway as a host behind a pairing relay (spec/remote-control.md).

The wire modules (:mod:`.envelopes`, :mod:`.chunks`, :mod:`.streams`) are sans-I/O and shared
by the host (this package) and the relay (:mod:`appserver.relay`): one implementation of the
envelope protocol, two users.
"""
