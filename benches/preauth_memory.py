"""Memory a postern worker holds for connections that have not finished their TLS handshake.

Usage: python3 benches/preauth_memory.py POSTERN_BINARY CONNECTIONS BYTES

Starts `postern dev` on free ports, opens CONNECTIONS connections to its worker, each sending
the first BYTES bytes of a TLS record header announcing a 16 KiB handshake record (then
filler), and prints the worker process's RSS growth per connection two seconds later, and how
many connections are still open (the rest were refused). Raise `ulimit -n` first.
"""
import socket, subprocess, sys, time, os, re
binary, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = subprocess.Popen([binary, "dev", "-api-listen-address", "127.0.0.1:0", "-proxy-listen-address", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "POSTERN_LOG": "error"}, text=True)
port = None
for line in dev.stdout:
    m = re.search(r"Worker Proxy Address: 127.0.0.1:(\d+)", line)
    if m: port = int(m.group(1))
    if "started" in line: break
def rss():
    for l in open(f"/proc/{dev.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
time.sleep(0.5)
# warm up: a few connections
socks = []
before = rss()
payload = bytes([22, 3, 1, 0x40, 0x00]) + b"\x01" * max(0, size - 5)
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(payload[:size])
    socks.append(s)
time.sleep(2)
after = rss()
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        d = s.recv(1)
        if d != b"": alive += 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(f"{binary.split('/')[-1]} {n} conns x {size} bytes: {(after-before)/n:.1f} KiB each, {alive} still open")
dev.terminate(); dev.wait()
