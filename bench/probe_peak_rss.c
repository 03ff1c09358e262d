/* Peak resident memory of a command: VmHWM of its own address space, read from /proc just before it
 * exits (ptrace exit stop), median over RUNS runs, in KiB.
 * Why not wait4's ru_maxrss: it also counts the launcher's memory from before exec, and on recent kernels
 * it reads per-CPU RSS counters that stay at 0 for a process as small as the probe.
 * Usage: probe_peak_rss RUNS COMMAND [ARG...] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNS 1000

static long read_peak_kib(pid_t pid)
{
    char path[64];
    char text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t length = read(fd, text, sizeof text - 1);
    close(fd);
    if (length <= 0)
        return -1;
    text[length] = '\0';
    const char *line = strstr(text, "\nVmHWM:");
    return line != NULL ? strtol(line + 7, NULL, 10) : -1;
}

/* Runs the command once; returns its peak RSS in KiB, or -1 (with a message) if it failed. */
static long measure_once(char **command)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("probe_peak_rss: fork");
        return -1;
    }
    if (pid == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd < 0 || dup2(null_fd, 1) < 0 || dup2(null_fd, 2) < 0)
            _exit(126);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(126);
        execvp(command[0], command);
        _exit(127);
    }
    long peak = -1;
    int status;
    int options_set = 0;
    for (;;) {
        if (waitpid(pid, &status, 0) != pid) {
            if (errno == EINTR)
                continue;
            perror("probe_peak_rss: waitpid");
            return -1;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
            break;
        int deliver = 0;
        if (!options_set && WSTOPSIG(status) == SIGTRAP) {
            /* The stop after the successful exec: from now on, stop once more just before exit. */
            if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
                       (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)) != 0) {
                perror("probe_peak_rss: PTRACE_SETOPTIONS");
                return -1;
            }
            options_set = 1;
        } else if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
            peak = read_peak_kib(pid);
        } else {
            deliver = WSTOPSIG(status); /* an ordinary signal: pass it on */
        }
        if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)deliver) != 0 && errno != ESRCH) {
            perror("probe_peak_rss: PTRACE_CONT");
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "probe_peak_rss: %s failed (wait status %d)\n", command[0], status);
        return -1;
    }
    if (peak < 0)
        fprintf(stderr, "probe_peak_rss: no VmHWM for %s\n", command[0]);
    return peak;
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a;
    long y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long peaks[MAX_RUNS];
    int runs = argc >= 3 ? atoi(argv[1]) : 0;
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: probe_peak_rss RUNS(1-%d) COMMAND [ARG...]\n", MAX_RUNS);
        return 2;
    }
    for (int i = 0; i < runs; i++) {
        peaks[i] = measure_once(argv + 2);
        if (peaks[i] < 0)
            return 1;
    }
    qsort(peaks, (size_t)runs, sizeof peaks[0], compare_long);
    printf("%ld\n", peaks[runs / 2]);
    return 0;
}
