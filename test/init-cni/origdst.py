"""Test listener for the capture tests: `python3 origdst.py NAME PORT...`.

Listens on 0.0.0.0:PORT for each PORT and answers every connection with one JSON line:
{"ns": NAME, "port": <listening port>, "orig": "<ip>:<port>"} where orig is the connection's
original destination as conntrack recorded it (SO_ORIGINAL_DST) - for a connection that iptables
redirected, the address the client dialled; otherwise the listener's own address. Node has no
getsockopt, hence Python. Prints READY once every port is bound.
"""
import json
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80


def original_dst(conn):
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, packed = struct.unpack_from("!2xH4s", raw)
        return "%s:%d" % (socket.inet_ntoa(packed), port)
    except OSError:
        host, port = conn.getsockname()[:2]
        return "%s:%d" % (host, port)


def serve(name, sock, port):
    while True:
        conn, _ = sock.accept()
        try:
            line = json.dumps({"ns": name, "port": port, "orig": original_dst(conn)}) + "\n"
            conn.sendall(line.encode())
        finally:
            conn.close()


def main():
    name = sys.argv[1]
    ports = [int(p) for p in sys.argv[2:]]
    threads = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(64)
        t = threading.Thread(target=serve, args=(name, sock, port), daemon=True)
        t.start()
        threads.append(t)
    print("READY", flush=True)
    sys.stdin.read()  # runs until the test closes stdin or kills it


if __name__ == "__main__":
    main()
