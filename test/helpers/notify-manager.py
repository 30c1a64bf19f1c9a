#!/usr/bin/env python3
# Stands in for systemd (PID 1) in tests: its notify socket (sd_notify(3)), a unix datagram socket
# at argv[1]. Each datagram is printed as one JSON line: CLOCK_MONOTONIC seconds of its arrival
# (`t`, the clock of node's process.hrtime), the sender's pid and uid (SCM_CREDENTIALS), the fds it carried
# and its fields. Like PID 1 it closes every fd it receives: that is the answer to systemd-notify's
# BARRIER=1 (a pipe's write end; systemd-notify waits up to 5 s for it to close). With argv[2] (a
# TCP port), a READY=1 is met by a connect to 127.0.0.1:port at once (`accepting`: true or the
# error), as a unit ordered After= the gateway would connect once systemctl start returns. The
# socket is srwxrwxrwx, as PID 1's /run/systemd/notify: any user may send.
import array
import json
import os
import socket
import struct
import sys
import time

path = sys.argv[1]
probe_port = int(sys.argv[2]) if len(sys.argv) > 2 else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
os.chmod(path, 0o777)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))
    t = time.monotonic()
    fds = []
    pid = None
    uid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(payload[: len(payload) - len(payload) % 4])
            fds.extend(a)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, _gid = struct.unpack("iII", payload[:12])
    for fd in fds:
        os.close(fd)
    fields = [f for f in data.decode("utf-8", "replace").split("\n") if f]
    line = {"t": t, "pid": pid, "uid": uid, "fds": len(fds), "fields": fields}
    if probe_port is not None and "READY=1" in fields:
        try:
            socket.create_connection(("127.0.0.1", probe_port), timeout=2).close()
            line["accepting"] = True
        except OSError as e:
            line["accepting"] = str(e)
    print(json.dumps(line), flush=True)
