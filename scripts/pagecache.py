"""Files out of the page cache, for the cold-disk measurements
(bench/ftp_bench.py, scripts/lab-disk-stall.sh): the next read of each goes
to the disk. posix_fadvise(POSIX_FADV_DONTNEED) needs no privilege, but it
drops only clean pages, so each file is written back first."""
import os


def evict(paths):
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
