"""The kernel manager and client of the grading kernels: jupyter_client's asynchronous ones, with
a wait for a new kernel that ends when the kernel is ready rather than 0.2 s later.

jupyter_client's `wait_for_ready` sends kernel_info until a reply comes on the shell channel
and a message on IOPub shows that channel connected too, then reads IOPub until it has been
quiet for 0.2 s. That quiet period is paid by every kernel start (a warm grading kernel is
ready in about 0.2 s, so it doubled the start). `GradingKernelClient` waits for the same two
signs and stops reading IOPub at the status `idle` of its own kernel_info request, the last
message that request causes. When IOPub joins only after the kernel sent that status (its
`iopub_welcome` comes, the status does not), it asks again at once instead of waiting; a
kernel that sends no welcome is read for at most the same 0.2 s. Messages it leaves unread
belong to kernel_info requests, and nbclient ignores every IOPub message whose parent is not
the cell it runs.

`GradingKernelManager` gives its kernels this client, and waits for a killed kernel in steps of
5 ms instead of 100 ms. Autograding (course_lib.grading.split_execute) starts its kernels with
it; course-grade also shuts them down at once instead of asking them first, since it kills
what remains of a submission's processes in any case.

Its kernels talk over Unix sockets in a folder of this process that only its user may enter
(jupyter_client's `ipc` transport), not over TCP ports of 127.0.0.1. jupyter_client picks TCP
ports by opening and closing them, and the kernel binds them a moment later: another process
may take one meanwhile, and the kernel then dies while starting (course-grade grades such a
submission again). No other user of the machine can reach a socket in that folder either.
"""

import atexit
import os
import shutil
import tempfile
import time
import uuid
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import CaselessStrEnum, DottedObjectName, Type, default

IOPUB_WAIT = 0.2          # seconds without an IOPub message before a reply is taken as IOPub not connected
IOPUB_JOINED = 0.02       # seconds to wait for the request's status once IOPub says it has joined


class GradingKernelClient(AsyncKernelClient):
    async def _async_wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            msg_id = self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                heard, joined, until = False, False, time.monotonic() + IOPUB_WAIT
                while True:
                    try:
                        msg = await self.iopub_channel.get_msg(timeout=max(0.0, until - time.monotonic()))
                    except Empty:
                        break
                    if (msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"
                            and msg["parent_header"].get("msg_id") == msg_id):
                        self._handle_kernel_info_reply(reply)
                        return
                    if msg["msg_type"] == "iopub_welcome":       # IOPub has just joined
                        joined, until = True, min(until, time.monotonic() + IOPUB_JOINED)
                    else:
                        heard = True
                if heard and not joined:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")   # the grader looks for this
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _async_wait_for_ready


_SOCKETS = {}


def socket_folder():
    """This process's folder for its kernels' sockets (0700, short enough for a socket's path),
    made on first use and removed when the process exits: the grading kernels' channels, and
    the warm notebook kernels' server and kernelspec (course_lib.execution)."""
    if _SOCKETS.get("pid") != os.getpid():                # none yet, or a forked copy of another's
        folder = tempfile.mkdtemp(prefix="course-kernels-ipc-")
        _SOCKETS.update(pid=os.getpid(), folder=folder)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return _SOCKETS["folder"]


class GradingKernelManager(AsyncKernelManager):
    client_class = DottedObjectName("course_lib.grading.kernel_manager.GradingKernelClient", config=True)
    client_factory = Type(klass=GradingKernelClient, config=True)
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("ip")
    def _ip_default(self):
        """The sockets' path prefix (the kernel appends -1, -2, ...): absolute, since the kernel
        runs in another folder than this process."""
        if self.transport == "ipc":
            return os.path.join(socket_folder(), uuid.uuid4().hex[:16])
        return super()._ip_default()

    async def _async_wait(self, pollinterval=0.005):
        """Wait for a killed kernel to end, looking every 5 ms rather than every 100 ms."""
        await super()._async_wait(pollinterval)
