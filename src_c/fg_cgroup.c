/* fg_cgroup.c - the CPU quota a container's cgroup gives this process (cgroup v2 cpu.max,
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us), which the default thread count respects
 * (fg_common.c). Not in the bare-metal build, which has no threads and no files.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fg_common.h"

/* CPUs of one cgroup directory's quota: v2 cpu.max ("max 100000" or "150000 100000"), v1
 * cpu.cfs_quota_us (-1 when none) over cpu.cfs_period_us; 0 when there is none. */
static double dir_quota(const char *dir, int v2)
{
    char path[4096];
    double quota = 0, period = 0;
    if (v2) {
        char first[32] = "";
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        FILE *f = fopen(path, "r");
        if (f == NULL) return 0;
        int got = fscanf(f, "%31s %lf", first, &period);
        fclose(f);
        if (got != 2 || sscanf(first, "%lf", &quota) != 1) return 0; /* "max": no quota */
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        FILE *f = fopen(path, "r");
        if (f == NULL) return 0;
        int got = fscanf(f, "%lf", &quota);
        fclose(f);
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (got != 1 || (f = fopen(path, "r")) == NULL) return 0;
        got = fscanf(f, "%lf", &period);
        fclose(f);
        if (got != 1) return 0;
    }
    return quota > 0 && period > 0 ? quota / period : 0;
}

/* The tightest quota of mount/cgroup and its ancestors up to the mount; when the process's
 * cgroup path is not under the mount (a container sees its own cgroup as the root), the
 * mount's own. 0 when none, or no such mount. */
static double tightest_quota(const char *mount, const char *cgroup, int v2)
{
    char dir[4096];
    struct stat st;
    if (stat(mount, &st) != 0) return 0;
    size_t top = strlen(mount);
    snprintf(dir, sizeof dir, "%s%s", mount, cgroup);
    if (stat(dir, &st) != 0) dir[top] = '\0';
    double tightest = 0;
    for (;;) {
        size_t len = strlen(dir);
        while (len > top && dir[len - 1] == '/') dir[--len] = '\0';
        double q = dir_quota(dir, v2);
        if (q > 0 && (tightest == 0 || q < tightest)) tightest = q;
        char *slash = strrchr(dir, '/');
        if (len <= top || slash == NULL || (size_t)(slash - dir) < top) return tightest;
        *slash = '\0';
    }
}

/* 1 when the comma-separated list has `name`. */
static int has_controller(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

double fg_cgroup_cpu_quota(const char *root)
{
    char path[4096], line[4096];
    if (root == NULL) root = "";
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    double tightest = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        /* hierarchy-id:controllers:path; v2 is "0::path" */
        char *controllers = strchr(line, ':'), *cgroup;
        if (controllers == NULL || (cgroup = strchr(controllers + 1, ':')) == NULL) continue;
        *cgroup++ = '\0';
        controllers++;
        double q = 0;
        if (controllers[0] == '\0') {
            snprintf(path, sizeof path, "%s/sys/fs/cgroup", root);
            q = tightest_quota(path, cgroup, 1);
        } else if (has_controller(controllers, "cpu")) {
            static const char *const mounts[] = {"cpu,cpuacct", "cpuacct,cpu", "cpu"};
            for (int i = 0; i < 3 && q == 0; i++) {
                snprintf(path, sizeof path, "%s/sys/fs/cgroup/%s", root, mounts[i]);
                q = tightest_quota(path, cgroup, 0);
            }
        }
        if (q > 0 && (tightest == 0 || q < tightest)) tightest = q;
    }
    fclose(f);
    return tightest;
}
