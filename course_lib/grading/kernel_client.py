"""The process jupyter_client starts for a warm grading kernel (see course_lib.grading.kernel_server).

    python -I -S kernel_client.py SOCKET -f CONNECTION_FILE [kernel arguments]

It asks the server for a kernel with this process's environment and working folder, then
stands in for it: interrupts and terminations sent to this process are passed to the
kernel, and it exits when the kernel does. If it is killed, its connection closes and the
kernel kills itself. Standard library only, run without site: it starts in milliseconds.
"""

import json
import os
import select
import signal
import socket
import sys


def main():
    socket_path, argv = sys.argv[1], sys.argv[2:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(socket_path)
    request = {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
    conn.sendall((json.dumps(request) + "\n").encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            sys.exit("kernel_client: the kernel server did not start a kernel")
        reply += chunk
    pid = int(reply)

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, forward)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    select.select([fd], [], [])                  # readable once the kernel has exited


if __name__ == "__main__":
    main()
