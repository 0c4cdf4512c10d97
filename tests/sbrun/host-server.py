"""Servers on the host for the sbrun tests, one per process, on 127.0.0.1.

    host-server.py files DIR            plain HTTP over the files of DIR
    host-server.py tls CERT KEY DIR     the same over TLS

Prints "port N" once it listens, then serves until it is terminated.
"""
import functools
import http.server
import ssl
import sys


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def main(argv):
    mode = argv[1]
    directory = argv[-1]
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if mode == "tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(argv[2], argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    elif mode != "files":
        sys.exit("usage: host-server.py files DIR | tls CERT KEY DIR")
    print("port", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
