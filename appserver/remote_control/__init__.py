"""Remote control: the host side (our gateway dials out to a relay) and the shared wire.

spec/remote-control.md and remote-control-observed.md (the 0.169.0 binary wins). The wire
modules (envelopes, chunks, streams) are sans-I/O and shared with the relay; the host
modules are: ``urls`` (base URL rules), ``credentials`` (what the relay accepts as us),
``identity`` (installation id, server name), ``preview`` and ``errors`` (HTTP error
texts), ``api`` (the HTTP calls), ``enrollment`` (token refresh rules), ``store`` (our
SQLite file), ``status`` (the status model), ``service`` (enable/disable/pairing and the
link's lifecycle), ``methods`` (the ``remoteControl/*`` methods), ``link`` (the host
WebSocket) and ``backoff``.
"""
