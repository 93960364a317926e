#!/usr/bin/python3 -I
"""aws_warm.py — Debian's AWS CLI, started once per test script instead of once per call.

Each `/usr/bin/aws` process spends about a second of CPU importing awscli and
botocore before it sends anything; the end-to-end suites make hundreds of calls,
twice (release and sanitizer builds), on CI's two cores. This runs the very same
code (`awscli.clidriver.main`, imported from Debian's python3-awscli: checked at
start) in a process forked per call from one warm parent:

    aws_warm.py serve SOCKET     the parent: imports awscli, loads the service
                                 models the suites use, then forks a child per
                                 request; runs until killed
    aws_warm.py call SOCKET ARGS...
                                 one call: hands the parent this process's stdin,
                                 stdout and stderr (SCM_RIGHTS), its environment,
                                 working directory and arguments, and exits with
                                 the CLI's exit status

The child sees the caller's environment and file descriptors, so credentials files,
AWS_* variables, redirections and pipes behave as with `/usr/bin/aws` itself.
tests/e2e/lib.sh uses it unless E2E_AWS_COLD=1, which runs /usr/bin/aws directly.
"""
import json
import os
import signal
import socket
import struct
import sys

MAX_REQUEST = 1 << 20


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("caller went away")
        buf += chunk
    return buf


def serve(path):
    import awscli
    import awscli.clidriver
    import botocore.session

    # end with the test script that started this, even if it was killed
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        sys.exit("aws_warm: the caller is already gone")
    where = os.path.realpath(awscli.__file__)
    if not where.startswith("/usr/lib/python3/dist-packages/"):
        sys.exit(f"aws_warm: awscli comes from {where}, not Debian's python3-awscli")
    # Loading the models once here is what each call would otherwise repeat.
    session = botocore.session.get_session()
    for service in ("ecr", "ecs", "sts", "iam"):
        session.get_service_model(service)
    awscli.clidriver.create_clidriver()

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        conn, _ = listener.accept()
        try:
            (size,) = struct.unpack("!I", recv_exact(conn, 4))
            if size > MAX_REQUEST:
                raise ValueError("request too large")
            msg, fds, _, _ = socket.recv_fds(conn, size, 3)
            msg += recv_exact(conn, size - len(msg)) if len(msg) < size else b""
            if len(fds) != 3:
                raise ValueError("expected stdin, stdout and stderr")
            request = json.loads(msg)
        except (OSError, ValueError, EOFError) as e:
            print(f"aws_warm: bad request: {e}", file=sys.stderr)
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            run_child(conn, fds, request)
        for fd in fds:
            os.close(fd)
        conn.close()


def run_child(conn, fds, request):
    rc = 255
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["aws"] + request["argv"]
        if os.environ.get("LC_CTYPE", "") == "UTF-8":  # as /usr/bin/aws does
            os.environ["LC_CTYPE"] = "en_US.UTF-8"
        import awscli
        import awscli.clidriver

        # what importing awscli did to the parent's environment, redone on the caller's
        paths = [os.path.expanduser(os.path.expandvars(p)) for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if p]
        paths.append(os.path.join(os.path.dirname(os.path.abspath(awscli.__file__)), "data"))
        os.environ["AWS_DATA_PATH"] = os.pathsep.join(paths)

        rc = awscli.clidriver.main()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # reported as the CLI would crash: on stderr, status 255
        print(f"aws_warm: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            pass
        try:
            conn.sendall(struct.pack("!i", rc if isinstance(rc, int) else 1))
        except OSError:
            pass
        os._exit(0)


def call(path, argv):
    body = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    conn.sendall(struct.pack("!I", len(body)))
    socket.send_fds(conn, [body], [0, 1, 2])
    reply = b""
    while len(reply) < 4:
        chunk = conn.recv(4 - len(reply))
        if not chunk:
            print("aws_warm: the CLI process ended without a status", file=sys.stderr)
            return 255
        reply += chunk
    return struct.unpack("!i", reply)[0]


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "call":
        sys.exit(call(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit("usage: aws_warm.py serve SOCKET | call SOCKET ARGS...")


if __name__ == "__main__":
    main()
