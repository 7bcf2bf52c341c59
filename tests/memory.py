"""Peak-memory measurement for the subprocess scripts of the memory tests."""

# Source of ``high_water_mark()``, prepended to each measuring script (they run in their own
# process from a temporary folder, so they cannot import this module).
HIGH_WATER_MARK = '''
import resource


def high_water_mark() -> int:
    # Bytes: this process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries it over exec
    # from the forking parent, so a child of a large pytest process starts at the parent's size.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
'''
