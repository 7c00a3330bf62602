"""The JSON-RPC processor: connections, their bounded queues, and routing to the backend.

The data path (ARCHITECTURE.md "The data path")::

    transport --text--> Connection.receive --inbound queue--> Connection.dispatch --> backend
    transport <--text-- Connection.outbound <-- Connection.deliver <------------------ backend

A transport owns bytes and framing; it calls :meth:`Connection.receive` once per frame or
line, runs :meth:`Connection.dispatch`, and writes what :attr:`Connection.outbound` yields
(see :func:`appserver.transports.base.run_connection`). The processor owns the protocol
rules (spec/transport.md §6–7):

* malformed messages are logged and ignored; unknown methods, ``Not initialized`` and
  ``Already initialized`` are answered here without the backend;
* client requests wait in a bounded per-connection inbound queue and are forwarded within
  a bounded in-flight window; a request arriving while the queue is full is answered
  ``-32001 Server overloaded; retry later.``; other messages wait for room instead
  (backpressure on the client's socket; answers to server requests are never dropped);
* answers go to the originating connection only; notifications only once its
  ``initialize`` succeeded, and never when it opted out of the method;
* the outbound queue is bounded: stdio waits for room, a socket client that overflows
  it is closed with close code 1008 and a reason saying so;
* methods the gateway answers itself (:class:`GatewayMethods`, e.g. ``remoteControl/*``)
  never reach the backend: they pass the initialize rules, then run concurrently with the
  connection's other traffic, and their answer goes to the originating connection;
* :meth:`Processor.broadcast` sends a gateway notification to every ready connection
  that did not opt out of it.

The direct path: once a connection is initialized and nothing waits in its queues, a
client message goes from the transport's reader straight to the backend session
(:meth:`BackendSession.send_nowait <appserver.backends.base.BackendSession>`), and an answer
from the backend straight to the client's socket (a writer the transport registers with
:meth:`Connection.set_direct_writer`), without waking the dispatcher or writer tasks. The
rules above are applied first, exactly as on the queued path; the queues take over whenever
the direct path cannot go on at once (a message already queued or being forwarded, the
window full, a socket applying backpressure), so the order of messages never changes.
One message per socket read (or event-loop iteration, for a caller outside a read) takes
the direct path in each direction; the rest of a burst is queued behind it and sent in one
write. An answer from codex to a WebSocket client goes as the very frame codex wrote
(:meth:`Connection.pass_answer_frame`): a server's text frame is the same bytes to any
client, so it is neither parsed into a message nor framed again; so do the notifications
of one read from codex, in one write at its end
(:meth:`Connection.notification_frame_fate`, :meth:`Connection.pass_notification_frames`).

A connection is not a socket: remote control multiplexes many over one link, so closing
is a request (:attr:`Connection.close_request`) the transport carries out, and a
multiplexing reader offers messages with :meth:`Connection.receive_nowait`, which never
waits (a stream that floods its inbound queue is closed, never the link).

Layout: :mod:`.base` (the overflow policies, connection states, metrics and the
gateway-methods seam), :mod:`.connection` (:class:`Connection`: its state, lifecycle and the
client -> backend half: receive rules, window, forwarding), :mod:`.delivery` (the backend
-> client half, a mixin of :class:`Connection`: delivery rules, the outbound queue, direct
writes and frames passed through), :mod:`.registry` (:class:`Processor`: every connection and the backend
they share).
"""

from appserver.processor.base import ConnectionState, GatewayMethods, Metrics, OverflowPolicy
from appserver.processor.connection import Connection
from appserver.processor.registry import Processor

__all__ = [
    "Connection",
    "ConnectionState",
    "GatewayMethods",
    "Metrics",
    "OverflowPolicy",
    "Processor",
]
