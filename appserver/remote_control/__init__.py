"""Remote control: the gateway as a host behind a pairing relay (spec/remote-control.md).

The wire modules (:mod:`.envelopes`, :mod:`.chunks`, :mod:`.streams`) are sans-I/O and shared
by the host (this package) and the relay (:mod:`appserver.relay`): one implementation of the
envelope protocol, two users.

The host modules: ``urls`` (base URL rules), ``credentials`` (what the relay accepts as us),
``identity`` (installation id, server name), ``preview`` and ``errors`` (HTTP error texts),
``api`` (the HTTP calls), ``enrollment`` (token refresh rules), ``store`` (our SQLite file),
``status`` (the status model), ``service`` (enable/disable/pairing and the link's
lifecycle), ``methods`` (the ``remoteControl/*`` methods), ``link`` (the host WebSocket),
``backoff``, ``setup`` (wiring into ``appserver serve``) and ``metrics``.
"""
