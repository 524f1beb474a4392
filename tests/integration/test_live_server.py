"""The browser tests' server closes every response body, even when the browser resets the connection.

An unclosed body (a static file's handle) is otherwise freed later by the garbage collector, and its
ResourceWarning fails whichever test is running at that moment."""
from __future__ import annotations

import socket
import struct
import threading

from tests.conftest import serving


class Body:
    """A response body that sends one chunk, then waits for the client to reset before ending."""

    def __init__(self, client_has_reset: threading.Event):
        self.client_has_reset = client_has_reset
        self.closed = threading.Event()

    def __iter__(self):
        yield b"first half;"
        self.client_has_reset.wait(5)
        # the reset reaches the server before it drains the socket
        self.client_has_reset.wait(0.05)

    def close(self):
        self.closed.set()


def test_a_body_is_closed_when_the_browser_resets_the_connection_after_the_response():
    client_has_reset = threading.Event()
    bodies = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        bodies.append(Body(client_has_reset))
        return bodies[-1]

    with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /static/js/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while b"first half;" not in received:
                received += client.recv(4096)
            # linger 0: close() sends a reset, as a browser does when it abandons a request
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client_has_reset.set()
        assert bodies[0].closed.wait(5), "the server left the response body open"
